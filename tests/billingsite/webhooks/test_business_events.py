"""Each business change announces its event once, with a key naming the change: running the
change again (a retried task, a repeated Stripe webhook) adds no event."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.services import customer_create, customer_update
from billingsite.webhooks.models import WebhookEvent
from disputes.services.disputes import dispute_apply_stripe
from disputes.services.refund_sync import refund_apply_stripe
from disputes.services.refunds import refund_request
from invoicing.models import Invoice, PaymentStatus
from invoicing.services.billing import billing_run
from invoicing.services.credit_notes import credit_note_create
from invoicing.services.invoices import invoice_mark_paid, invoice_void
from invoicing.stripe.mirror import payment_record
from tests.disputes.factories import dispute_obj, paid_invoice_payment, staff
from tests.invoicing.factories import make_contract
from tests.usage_sources import fixed_usage

pytestmark = pytest.mark.django_db


def _events(event_type: str) -> list[WebhookEvent]:
    return list(WebhookEvent.objects.filter(type=event_type).order_by("pk"))


def _billed() -> Invoice:
    make_contract()
    run_at = datetime(2026, 2, 3, tzinfo=UTC)
    billing_run(now=run_at, usage=fixed_usage({"api_calls": 1000}))
    billing_run(now=run_at, usage=fixed_usage({"api_calls": 1000}))  # a retried run
    return Invoice.objects.get()


def test_billing_announces_drafted_and_finalized_once():
    invoice = _billed()
    [drafted] = _events("invoice.drafted")
    [finalized] = _events("invoice.finalized")
    assert drafted.key == f"invoice.drafted:{invoice.pk}"
    data = finalized.payload["data"]["invoice"]
    assert finalized.payload["type"] == "invoice.finalized"
    assert data["number"] == invoice.number and data["total"] == "110.00"
    assert data["status"] == "finalized" and data["customer"] == invoice.customer.external_id


def test_paid_and_voided_are_announced_once_per_invoice():
    invoice = _billed()
    invoice_mark_paid(invoice=invoice, now=timezone.now())
    [paid] = _events("invoice.paid")
    assert paid.payload["data"]["invoice"]["status"] == "paid"
    other = _billed_second()
    invoice_void(invoice=other, reason="wrong plan", now=timezone.now())
    [voided] = _events("invoice.voided")
    assert voided.payload["data"]["invoice"]["void_reason"] == "wrong plan"


def _billed_second() -> Invoice:
    make_contract()
    billing_run(now=datetime(2026, 2, 3, tzinfo=UTC), usage=fixed_usage({"api_calls": 1}))
    return Invoice.objects.exclude(status="paid").get()


def test_credit_note_and_the_credit_grant_it_makes_are_announced():
    invoice = _billed()
    note = credit_note_create(invoice=invoice, reason="Outage", outcome="customer_credit")
    [created] = _events("credit_note.created")
    assert created.payload["data"]["credit_note"]["number"] == note.number
    assert created.payload["data"]["credit_note"]["total"] == "110.00"
    [grant] = _events("credit_grant.created")
    assert grant.payload["data"]["credit_grant"]["amount"] == "110.00"


def test_customer_created_and_updated_name_the_change():
    customer = customer_create(external_id="evt-co", name="Evt Co")
    customer_update(customer=customer, name="Evt Co Ltd")
    customer_update(customer=customer, name="Evt Co Ltd")  # no change: no event
    [created] = _events("customer.created")
    assert created.payload["data"]["customer"]["external_id"] == "evt-co"
    [updated] = _events("customer.updated")
    assert updated.payload["data"]["customer"]["changed"] == ["name"]
    assert updated.payload["data"]["customer"]["name"] == "Evt Co Ltd"


def test_a_failed_payment_is_announced_once_for_the_intent_and_its_charge():
    invoice = _billed()
    fields = {
        "currency": invoice.currency,
        "amount": Decimal("110.00"),
        "amount_captured": Decimal("0"),
        "status": PaymentStatus.FAILED,
        "failure_code": "card_declined",
        "decline_code": "insufficient_funds",
        "failure_message": "Your card has insufficient funds.",
    }
    for at in (timezone.now(), timezone.now()):  # the intent's event, then the charge's
        payment_record(
            intent_id="pi_evt1",
            charge_id="ch_evt1",
            customer=invoice.customer,
            invoice_id=invoice.pk,
            created=None,
            at=at,
            fields=fields,
        )
    [failed] = _events("invoice.payment_failed")
    assert failed.payload["data"]["payment"]["decline_code"] == "insufficient_funds"
    assert failed.payload["data"]["invoice"]["number"] == invoice.number


def test_refund_succeeded_is_announced_once_when_stripe_repeats_itself():
    _, payment = paid_invoice_payment()
    refund = refund_request(
        payment=payment, amount=Decimal("7.00"), reason="other", actor=staff("support")
    )
    obj = {
        "id": "re_evt1",
        "object": "refund",
        "status": "succeeded",
        "amount": 700,
        "metadata": {"tally_refund_id": str(refund.pk)},
    }
    refund_apply_stripe(obj, at=None)
    refund_apply_stripe(obj, at=None)
    [succeeded] = _events("refund.succeeded")
    assert succeeded.payload["data"]["refund"]["amount"] == "7.00"
    assert _events("refund.failed") == []
    assert len(_events("credit_note.created")) == 1  # the refund's credit note


def test_dispute_created_and_closed_once_each():
    _, payment = paid_invoice_payment()
    opened = dispute_obj(payment, dispute_id="dp_evt1")
    dispute_apply_stripe(opened, at=datetime(2026, 3, 1, tzinfo=UTC))
    dispute_apply_stripe(opened, at=datetime(2026, 3, 1, tzinfo=UTC))
    won = dispute_obj(payment, dispute_id="dp_evt1", status="won")
    dispute_apply_stripe(won, at=datetime(2026, 3, 2, tzinfo=UTC))
    dispute_apply_stripe(won, at=datetime(2026, 3, 3, tzinfo=UTC))
    [created] = _events("dispute.created")
    assert created.payload["data"]["dispute"]["id"] == "dp_evt1"
    [closed] = _events("dispute.closed")
    assert closed.payload["data"]["dispute"]["status"] == "won"
