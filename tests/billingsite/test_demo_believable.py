"""The demo reads like a real back office (issue 21, item 6): invoices issued when their period's
grace ended and due by their payment terms, customers signed up before their first contract,
disputes after the invoices and payments they contest, and a refund above the approval
threshold waiting for Finance."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import call_command

from accounts.models import Customer
from disputes.models import Dispute, Refund
from invoicing.models import Invoice
from invoicing.periods import local_midnight_utc
from invoicing.services.billing_drafts import grace_hours

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def test_the_seeded_demo_is_believable() -> None:
    call_command("seed_demo", stdout=io.StringIO())
    issued = list(
        Invoice.objects.exclude(issued_at=None)
        .filter(replaces=None)
        .select_related("contract__customer")
    )
    assert len(issued) >= 8
    for invoice in issued:
        grace = timedelta(hours=grace_hours(invoice.contract))
        assert invoice.issued_at == invoice.period_end + grace, invoice.number
        assert invoice.due_at == invoice.issued_at + timedelta(days=invoice.contract.net_days)
    assert len({i.issued_at.date() for i in issued}) >= 3  # not all issued "today"

    for customer in Customer.objects.filter(contracts__isnull=False).distinct():
        first = customer.contracts.order_by("start_date").first()
        assert first is not None
        starts = local_midnight_utc(first.start_date, first.timezone)
        assert customer.created_at < starts, customer.external_id

    disputes = list(Dispute.objects.select_related("payment__invoice"))
    assert len(disputes) == 3
    for dispute in disputes:
        payment = dispute.payment
        assert payment.invoice.issued_at < payment.stripe_created < dispute.stripe_created

    waiting = Refund.objects.get(batch_ref="demo:awaiting")
    assert waiting.status == "requested" and waiting.needs_approval
    assert waiting.amount.amount > Decimal(settings.REFUND_APPROVAL_THRESHOLD)
    assert waiting.requested_by is not None and waiting.approved_by is None
