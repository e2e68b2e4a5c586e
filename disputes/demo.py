"""Demo refunds (succeeded, pending, failed, awaiting approval, rejected) and disputes (one due
soon and assigned, one won, one lost), built through the same services as real ones.
Idempotent: every demo row has a fixed reference and is skipped when it exists."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from billingsite.money import amount_of, round_line, to_minor_units
from billingsite.outbox.models import OutboxMessage, OutboxState
from disputes.models import Dispute, DisputeNote, Refund, RefundTransition
from disputes.services.disputes import dispute_apply_stripe
from disputes.services.refund_sync import refund_apply_stripe
from disputes.services.refunds import refund_request
from disputes.states import RefundStatus
from invoicing.demo_stripe import DECLINED_FOR
from invoicing.models import Invoice, Payment, PaymentStatus
from invoicing.services.invoices import invoice_mark_paid
from invoicing.states import InvoiceStatus

PAYMENTS_NEEDED = 5
PAID_AFTER_DAYS = 6
# (label, payment index, share of the captured amount, Stripe's final status or our state)
REFUNDS = [
    ("succeeded", 0, Decimal("0.10"), "succeeded"),
    ("pending", 0, Decimal("0.05"), "pending"),
    ("failed", 0, Decimal("0.05"), "failed"),
    ("awaiting", 1, Decimal("0.50"), "requested"),
    ("rejected", 1, Decimal("0.10"), "rejected"),
]


def seed(out: Any) -> None:
    payments = _paid_payments()
    if len(payments) < PAYMENTS_NEEDED:
        out.write("  disputes demo: not enough paid invoices, skipped")
        return
    # the largest payment takes the refund above the approval threshold (index 1)
    largest = max(payments, key=lambda p: amount_of(p.amount_captured))
    payments.remove(largest)
    payments.insert(1, largest)
    support = User.objects.filter(username="demo-support").first()
    finance = User.objects.filter(username="demo-finance").first()
    made = sum(
        _refund(label, payments[i], share, state, support, finance)
        for label, i, share, state in REFUNDS
    )
    now = timezone.now()
    # a dispute comes after the payment it contests (which came after its invoice)
    _dispute("soon", payments[2], "needs_response", now + timedelta(hours=40), support)
    _dispute("won", payments[3], "won", now - timedelta(days=20), None)
    _dispute("lost", payments[4], "lost", now - timedelta(days=25), None)
    out.write(
        f"  {made} new demo refunds ({Refund.objects.count()} in all), "
        f"{Dispute.objects.count()} disputes"
    )


def _paid_payments() -> list[Payment]:
    """Succeeded payments on paid invoices; pays the oldest open invoices when too few."""
    now = timezone.now()
    # not the customer whose card the demo declines: nobody paid its invoices
    open_invoices = (
        Invoice.objects.filter(status=InvoiceStatus.FINALIZED, total__gt=0)
        .exclude(customer__external_id=DECLINED_FOR)
        .order_by("issued_at", "pk")
    )
    for invoice in open_invoices:
        if _succeeded_on_paid().count() >= PAYMENTS_NEEDED:
            break
        # paid a few days after it was issued, as a customer would
        paid_at = min(now, (invoice.issued_at or now) + timedelta(days=PAID_AFTER_DAYS))
        Payment.objects.get_or_create(
            stripe_payment_intent_id=f"pi_demo_d{invoice.pk:06d}",
            defaults={
                "customer": invoice.customer,
                "invoice": invoice,
                "stripe_charge_id": f"ch_demo_d{invoice.pk:06d}",
                "currency": invoice.currency,
                "amount": amount_of(invoice.total),
                "amount_captured": amount_of(invoice.total),
                "status": PaymentStatus.SUCCEEDED,
                "stripe_created": paid_at,
                "last_event_at": paid_at,
            },
        )
        invoice_mark_paid(invoice=invoice, now=paid_at)
    return list(_succeeded_on_paid().order_by("pk")[:PAYMENTS_NEEDED])


def _succeeded_on_paid():  # type: ignore[no-untyped-def]
    return Payment.objects.filter(
        status=PaymentStatus.SUCCEEDED, invoice__status=InvoiceStatus.PAID, amount_captured__gt=1
    )


def _refund(
    label: str,
    payment: Payment,
    share: Decimal,
    state: str,
    support: User | None,
    finance: User | None,
) -> int:
    ref = f"demo:{label}"
    if Refund.objects.filter(batch_ref=ref).exists():
        return 0
    captured = amount_of(payment.amount_captured)
    amount = round_line(captured * share, payment.currency)
    if state == RefundStatus.REQUESTED:
        return _awaiting_refund(payment, captured, ref, support)
    if state == RefundStatus.REJECTED:
        return _rejected_refund(payment, amount, ref, support, finance)
    refund = refund_request(
        payment=payment,
        amount=amount,
        reason="service_issue",
        reason_text=f"Demo refund ({label})",
        actor=support,
        batch_ref=ref,
    )
    OutboxMessage.objects.filter(key=f"refund:{refund.pk}", state=OutboxState.PENDING).update(
        state=OutboxState.SENT, sent_at=timezone.now(), attempts=1, result={"demo": True}
    )
    refund_apply_stripe(
        {
            "id": f"re_demo_{label}_{refund.pk}",
            "status": state,
            "failure_reason": "expired_or_canceled_card",
        },
        at=None,
        refund_id=refund.pk,
    )
    return 1


def _rejected_refund(
    payment: Payment, amount: Decimal, ref: str, support: User | None, finance: User | None
) -> int:
    """A request Finance turned down (recorded as it would have been)."""
    refund = Refund.objects.create(
        payment=payment,
        invoice=payment.invoice,
        customer=payment.customer,
        amount=amount,
        currency=payment.currency,
        reason="billing_error",
        reason_text="Demo: wrong tier",
        requested_by=support,
        needs_approval=True,
        batch_ref=ref,
        status=RefundStatus.REJECTED,
        internal_note="Customer emailed twice.",
    )
    RefundTransition.objects.create(refund=refund, to_status="requested", actor=support)
    RefundTransition.objects.create(
        refund=refund,
        from_status="requested",
        to_status="rejected",
        actor=finance,
        note="Usage matches the contract.",
    )
    return 1


def _awaiting_refund(payment: Payment, captured: Decimal, ref: str, support: User | None) -> int:
    """A refund above the approval threshold, requested through the service: it waits for
    Finance (needs_approval), as a real one would."""
    above = Decimal(settings.REFUND_APPROVAL_THRESHOLD) * Decimal("1.1")
    amount = round_line(min(captured * Decimal("0.9"), max(captured / 2, above)), payment.currency)
    refund_request(
        payment=payment,
        amount=amount,
        reason="billing_error",
        reason_text="Billed on the wrong tier for the month",
        internal_note="Customer emailed twice.",
        actor=support,
        batch_ref=ref,
    )
    return 1


def _opened(due: datetime, paid: datetime) -> datetime:
    """Opened a week before its evidence is due, never before the payment it contests."""
    latest = timezone.now() - timedelta(days=1)
    return min(latest, max(due - timedelta(days=7), paid + timedelta(days=2)))


def _dispute(label: str, payment: Payment, status: str, due: Any, assignee: User | None) -> None:
    stripe_id = f"dp_demo_{label}"
    if Dispute.objects.filter(stripe_id=stripe_id).exists():
        return
    paid = payment.stripe_created or timezone.now()
    minor = to_minor_units(
        round_line(amount_of(payment.amount_captured), payment.currency), payment.currency
    )
    base = {
        "id": stripe_id,
        "object": "dispute",
        "charge": payment.stripe_charge_id,
        "amount": minor,
        "currency": payment.currency.lower(),
        "reason": "fraudulent",
        "is_charge_refundable": False,
        "created": int(_opened(due, paid).timestamp()),
        "evidence_details": {"due_by": int(due.timestamp())},
    }
    at = timezone.now() - timedelta(days=1)
    dispute = dispute_apply_stripe(
        {**base, "status": "needs_response"}, at=at, event_type="charge.dispute.created"
    )
    if status != "needs_response":
        dispute = dispute_apply_stripe(
            {**base, "status": status},
            at=at + timedelta(hours=1),
            event_type="charge.dispute.closed",
        )
    if assignee is not None:
        Dispute.objects.filter(pk=dispute.pk).update(assignee=assignee)
        DisputeNote.objects.create(
            dispute=dispute,
            author=assignee,
            body="Called the customer: they do not recognise the charge.",
        )
