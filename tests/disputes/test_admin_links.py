"""Invoice and payment pages in invoicing's admin offer 'Request a refund' (from disputes)."""

import pytest
from django.urls import reverse

from invoicing.models import Payment
from tests.disputes.factories import paid_invoice_payment, staff

pytestmark = pytest.mark.django_db


def test_paid_invoice_and_its_payment_offer_a_refund_request(client):
    invoice, payment = paid_invoice_payment()
    client.force_login(staff("support"))
    page = client.get(reverse("admin:invoicing_invoice_change", args=[invoice.pk])).content
    assert reverse("admin:disputes_refund_request_invoice", args=[invoice.pk]).encode() in page
    page = client.get(reverse("admin:invoicing_payment_change", args=[payment.pk])).content
    assert reverse("admin:disputes_refund_request", args=[payment.pk]).encode() in page
    assert b"Request a refund" in page


def test_failed_payment_offers_no_refund(client):
    _, payment = paid_invoice_payment()
    Payment.objects.filter(pk=payment.pk).update(status="failed")
    client.force_login(staff("support"))
    page = client.get(reverse("admin:invoicing_payment_change", args=[payment.pk])).content
    assert b"Request a refund" not in page


def test_users_without_the_refund_permission_see_no_button(client):
    from django.contrib.auth.models import Permission

    invoice, _ = paid_invoice_payment()
    user = staff("support")
    user.groups.first().permissions.remove(Permission.objects.get(codename="request_refund"))
    client.force_login(user)
    page = client.get(reverse("admin:invoicing_invoice_change", args=[invoice.pk])).content
    assert b"Request a refund" not in page
