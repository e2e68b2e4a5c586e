"""The customer page shows Stripe payment methods, payments (with Stripe's failure reason) and
payment-method links; support creates a Billing portal link (exact request on the recording
client), sees it, or has it emailed. The admin request itself never calls Stripe."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.utils import timezone

from billingsite.models import OutboxMessage
from billingsite.outbox.services import outbox_dispatch
from invoicing.models import LinkStatus, Payment, PaymentMethodUpdateLink, StripePaymentMethod
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/accounts/customer/"


@pytest.fixture
def support_client(client):
    user = User.objects.create_user("agent", "agent@tally.test", "pw", is_staff=True)
    from django.contrib.auth.models import Group

    user.groups.add(Group.objects.get(name="Support"))
    client.force_login(user)
    return client


def test_customer_page_shows_payment_methods_payments_and_links(admin_client):
    customer = CustomerFactory(stripe_customer_id="cus_page")
    now = timezone.now()
    StripePaymentMethod.objects.create(
        customer=customer,
        stripe_id="pm_page",
        type="card",
        brand="visa",
        last4="4242",
        exp_month=12,
        exp_year=2034,
        is_default=True,
        refreshed_at=now,
    )
    Payment.objects.create(
        customer=customer,
        stripe_payment_intent_id="pi_page",
        currency="USD",
        amount="12.00",
        status="failed",
        failure_code="card_declined",
        decline_code="insufficient_funds",
        failure_message="Your card has insufficient funds.",
    )
    PaymentMethodUpdateLink.objects.create(
        customer=customer, status=LinkStatus.READY, url="https://billing.stripe.test/p/session_page"
    )
    page = admin_client.get(f"{CHANGELIST}{customer.pk}/change/").content.decode()
    for text in (
        "pm_page",
        "4242",
        "Your card has insufficient funds.",
        "insufficient_funds",
        "https://billing.stripe.test/p/session_page",
    ):
        assert text in page


def test_support_creates_a_portal_link_and_sees_it(
    support_client, recording_default_gateway, recording_client
):
    customer = CustomerFactory(stripe_customer_id="cus_portal", email="ap@portal.test")
    response = support_client.post(
        CHANGELIST, {"action": "payment_method_link", "_selected_action": [customer.pk]}
    )
    assert response.status_code == 200
    assert recording_client.requests == []  # nothing left the building during the request
    link = PaymentMethodUpdateLink.objects.get(customer=customer)
    assert f"link #{link.pk} requested" in response.content.decode()
    assert OutboxMessage.objects.get(key=f"payment-method-link:{link.pk}").state == "pending"
    assert outbox_dispatch().as_dict()["sent"] == 1
    [request] = recording_client.requests_to("POST", "/v1/billing_portal/sessions")
    assert request.idempotency_key == f"payment-method-link:{link.pk}"
    assert request.form == {
        "customer": "cus_portal",
        "return_url": "http://localhost:8000/usage/",
        "flow_data[type]": "payment_method_update",
    }
    link.refresh_from_db()
    assert link.status == LinkStatus.READY and link.url.startswith("https://")
    assert link.url == recording_client.answers[0]["url"]
    assert mail.outbox == []
    page = support_client.get(f"{CHANGELIST}{customer.pk}/change/").content.decode()
    assert link.url in page


def test_link_is_emailed_once_to_the_billing_email(
    support_client, recording_default_gateway, recording_client
):
    customer = CustomerFactory(stripe_customer_id="cus_mail", email="ap@mail.test")
    nobody = CustomerFactory(stripe_customer_id="cus_nomail", email="")
    response = support_client.post(
        CHANGELIST,
        {"action": "payment_method_link_email", "_selected_action": [customer.pk, nobody.pk]},
    )
    assert "not sent: the customer has no billing email" in response.content.decode()
    outbox_dispatch()
    link = PaymentMethodUpdateLink.objects.get(customer=customer)
    assert [m.to for m in mail.outbox] == [["ap@mail.test"]]
    assert link.url in mail.outbox[0].body and link.emailed_at is not None
    row = OutboxMessage.objects.get(key=f"payment-method-link:{link.pk}")
    OutboxMessage.objects.filter(pk=row.pk).update(state="pending")  # a resend
    outbox_dispatch()
    assert len(mail.outbox) == 1
    assert not PaymentMethodUpdateLink.objects.filter(customer=nobody).exists()


def test_refresh_action_queues_a_sync_and_reads_payment_methods(
    admin_client, recording_default_gateway, recording_client
):
    customer = CustomerFactory(email="ap@refresh.test")
    response = admin_client.post(
        CHANGELIST, {"action": "stripe_refresh", "_selected_action": [customer.pk]}
    )
    assert "queued (stripe.customer.sync" in response.content.decode()
    assert outbox_dispatch().as_dict()["sent"] == 1
    customer.refresh_from_db()
    assert customer.stripe_customer_id.startswith("cus_")
    [update] = recording_client.requests_to("POST", "/v1/customers/{id}")
    assert update.form["email"] == "ap@refresh.test"
    assert update.idempotency_key.startswith(f"customer:{customer.pk}:sync:")
    [pm] = StripePaymentMethod.objects.filter(customer=customer)
    assert pm.last4 == "4242"


def test_invoice_page_shows_its_stripe_invoice_and_failed_payments(admin_client):
    from tests.stripe.sync_support import finalized_invoice, link

    invoice = finalized_invoice()
    page = admin_client.get(f"/admin/invoicing/invoice/{invoice.pk}/change/").content.decode()
    assert "not on Stripe yet (see the outbox)" in page
    link(invoice, "in_admin_page")
    Payment.objects.create(
        customer=invoice.customer,
        invoice=invoice,
        stripe_payment_intent_id="pi_admin_page",
        currency="USD",
        amount=invoice.total,
        status="failed",
        decline_code="expired_card",
        failure_message="Your card has expired.",
    )
    page = admin_client.get(f"/admin/invoicing/invoice/{invoice.pk}/change/").content.decode()
    assert "in_admin_page (open)" in page
    assert "pi_admin_page failed" in page and "Your card has expired. (expired_card)" in page
