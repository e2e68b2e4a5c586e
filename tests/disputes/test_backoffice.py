"""Dashboard panels, Customer 360 sections, support search by Stripe ids, reconciliation
sources for refunds and disputes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from disputes.models import Dispute, Refund
from invoicing.stripe.reconciliation import reconcile, reconciliation_sources
from tests.disputes.factories import paid_invoice_payment, staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def case():
    invoice, payment = paid_invoice_payment()
    agent, finance = staff("support"), staff("finance")
    refund = Refund.objects.create(
        payment=payment,
        invoice=invoice,
        customer=payment.customer,
        amount=Decimal("700.00"),
        currency=payment.currency,
        reason="billing_error",
        status="requested",
        requested_by=agent,
        needs_approval=True,
        stripe_refund_id="re_case1",
    )
    dispute = Dispute.objects.create(
        stripe_id="dp_case1",
        stripe_charge_id="ch_case_disputed",
        payment=payment,
        customer=payment.customer,
        amount=Decimal("9.00"),
        currency=payment.currency,
        status="needs_response",
        due_by=timezone.now() + timedelta(hours=30),
    )
    return payment.customer, agent, finance, refund, dispute


def test_dashboard_panels_per_role(client, case):
    _, agent, finance, refund, dispute = case
    client.force_login(agent)
    html = client.get("/admin/").content.decode()
    assert "Open disputes (evidence due)" in html and f"/dispute/{dispute.pk}/evidence/" in html
    assert "My refund requests awaiting approval" in html
    assert "Refunds awaiting approval" not in html
    client.force_login(finance)
    html = client.get("/admin/").content.decode()
    assert "Refunds awaiting approval" in html
    assert f"/refund/{refund.pk}/decide/approve/" in html


def test_customer_360_sections_and_search_by_stripe_ids(client, case):
    customer, agent, *_ = case
    client.force_login(agent)
    html = client.get(f"/admin/accounts/customer/{customer.pk}/360/").content.decode()
    assert "dp_case1" in html and "re_case1" in html and "Billing error" in html
    assert f"/admin/disputes/refund/request/{case[3].payment_id}/" in html
    for term in ("dp_case1", "re_case1", "ch_case_disputed"):
        found = client.get("/admin/accounts/customer/search/", {"q": term}, follow=True)
        assert customer.name in found.content.decode(), term


def test_reconciliation_has_refund_and_dispute_sources(recording_client, recording_gateway, case):
    assert {"refund", "dispute"} <= {s.object_type for s in reconciliation_sources()}
    run = reconcile(
        start=datetime(2000, 1, 1, tzinfo=UTC),
        end=timezone.now() + timedelta(days=1),
        gateway=recording_gateway,
    )
    kinds = {(d.object_type, d.kind, d.stripe_id) for d in run.differences.all()}
    assert ("refund", "missing_in_stripe", "re_case1") in kinds
    assert any(obj == "dispute" for obj, _, _ in kinds)
