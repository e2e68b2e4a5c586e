"""Reminders 72 h and 24 h before the due date (each once), evidence sent to Stripe through the
outbox with submit=false/true, and the automated refunds (duplicate payment, voided paid
invoice) going through the same path."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from billingsite.errors import AppError
from billingsite.outbox.services import outbox_dispatch
from disputes.models import Dispute, Refund
from disputes.services.automated import refund_duplicate_payments, refund_voided_invoice
from disputes.services.disputes import dispute_evidence_save
from disputes.services.refund_sync import refund_apply_stripe
from disputes.services.reminders import reminders_send
from invoicing.models import Payment
from tests.disputes.factories import paid_invoice_payment, staff

pytestmark = pytest.mark.django_db


def _dispute(payment, due, assignee=None) -> Dispute:
    return Dispute.objects.create(
        stripe_id=f"dp_{payment.pk}",
        stripe_charge_id=payment.stripe_charge_id,
        payment=payment,
        invoice=payment.invoice,
        customer=payment.customer,
        amount=Decimal("10.00"),
        currency=payment.currency,
        status="needs_response",
        due_by=due,
        assignee=assignee,
    )


def test_reminders_go_out_at_72h_and_24h_once_each(django_capture_on_commit_callbacks):
    _, payment = paid_invoice_payment()
    agent = staff("support")
    start = timezone.now()
    due = start + timedelta(days=5)
    _dispute(payment, due, assignee=agent)

    def run(at):
        with time_machine.travel(at, tick=False), django_capture_on_commit_callbacks(execute=True):
            return reminders_send()

    assert run(start) == 0
    assert run(due - timedelta(hours=71)) == 1
    assert run(due - timedelta(hours=70)) == 0
    assert run(due - timedelta(hours=23)) == 1
    assert run(due - timedelta(hours=1)) == 0
    assert [m.to for m in mail.outbox] == [[agent.email], [agent.email]]
    assert "72 h" in mail.outbox[0].subject and "24 h" in mail.outbox[1].subject


def test_evidence_draft_then_submission_reach_stripe_with_their_flags(
    recording_default_gateway, recording_client
):
    _, payment = paid_invoice_payment()
    dispute = _dispute(payment, timezone.now() + timedelta(days=3))
    agent = staff("support")
    dispute_evidence_save(
        dispute=dispute, evidence={"product_description": "API"}, submit=False, actor=agent
    )
    dispute_evidence_save(
        dispute=dispute, evidence={"product_description": "API v2"}, submit=True, actor=agent
    )
    outbox_dispatch(topics=["stripe.dispute.update"])
    sent = recording_client.requests_to("POST", f"/v1/disputes/{dispute.stripe_id}")
    assert [(r.form["submit"], r.form["evidence[product_description]"]) for r in sent] == [
        ("false", "API"),
        ("true", "API v2"),
    ]
    assert len({r.headers["Idempotency-Key"] for r in sent}) == 2
    uploads = recording_client.requests_to("POST", "/v1/files")
    assert len(uploads) == 2 and b"%PDF" in uploads[0].raw_body  # the invoice PDF as receipt
    assert sent[0].form["evidence[receipt]"] == recording_client.answers[0]["id"]
    with pytest.raises(AppError):
        dispute_evidence_save(
            dispute=dispute, evidence={"product_description": "late"}, submit=True, actor=agent
        )
    with pytest.raises(AppError):
        dispute_evidence_save(
            dispute=dispute, evidence={"nonsense": "x"}, submit=False, actor=agent
        )


def test_duplicate_payment_is_refunded_once_without_a_credit_note(settings):
    settings.REFUND_APPROVAL_THRESHOLD = Decimal("100000")
    invoice, first = paid_invoice_payment()
    second = Payment.objects.create(
        customer=invoice.customer,
        invoice=invoice,
        stripe_payment_intent_id="pi_dup2",
        stripe_charge_id="ch_dup2",
        currency=invoice.currency,
        amount=invoice.total,
        amount_captured=invoice.total,
        status="succeeded",
        stripe_created=first.stripe_created + timedelta(minutes=1),
    )
    refunds = refund_duplicate_payments()
    assert [(r.payment, r.amount.amount, r.reason, r.status) for r in refunds] == [
        (second, invoice.total.amount, "duplicate", "approved")
    ]
    assert refund_duplicate_payments() == []
    refund_apply_stripe({"id": "re_dup", "status": "succeeded"}, at=None, refund_id=refunds[0].pk)
    assert Refund.objects.get().credit_note is None


def test_voided_paid_invoice_is_refunded_in_full_and_credited(settings):
    settings.REFUND_APPROVAL_THRESHOLD = Decimal("100000")
    invoice, payment = paid_invoice_payment()
    finance = staff("finance")
    with pytest.raises(AppError):
        refund_voided_invoice(invoice=invoice, reason=" ", actor=finance)
    (refund,) = refund_voided_invoice(invoice=invoice, reason="sold in error", actor=finance)
    assert (refund.amount.amount, refund.source) == (payment.amount_captured.amount, "invoice_void")
    refund_apply_stripe({"id": "re_void", "status": "succeeded"}, at=None, refund_id=refund.pk)
    refund.refresh_from_db()
    assert refund.credit_note.total == invoice.total
    assert refund_voided_invoice(invoice=invoice, reason="again", actor=finance) == []
