"""Refund writes: request (guards), approve/reject/cancel (four eyes), send through the outbox,
settle from Stripe's answer and webhooks (credit note + ledger on success).

Invariants (DESIGN 5 and 7):

- ``refund_request`` locks the payment row (``select_for_update``) and only then sums its
  reserving refunds, so two agents at once cannot together exceed ``amount_captured``;
- a charge with an open dispute, a void or unpaid invoice, or a payment that did not succeed is
  refused with a reason the agent can act on;
- above ``settings.REFUND_APPROVAL_THRESHOLD`` a refund waits for a user holding
  ``disputes.approve_refund`` who is not the requester;
- an approved refund is an outbox row ``refund:<id>`` in the same transaction; that key is the
  Stripe idempotency key, so a retried worker creates one Stripe refund;
- every status change is a conditional UPDATE plus a ``RefundTransition`` row.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from billingsite.errors import AppError, Conflict, NotFound
from billingsite.events import emit
from billingsite.money import SupportsAmount, amount_of, is_rounded
from billingsite.outbox.services import outbox_enqueue
from disputes.event_payloads import refund_event
from disputes.models import Dispute, Refund, RefundTransition
from disputes.models.refunds import RefundSource
from disputes.states import (
    DISPUTE_OPEN,
    RESERVING,
    DisputeStatus,
    RefundReason,
    RefundStatus,
    can_transition,
    refund_sources_of,
)
from invoicing.models import InvoiceLine, Payment, PaymentStatus
from invoicing.states import InvoiceStatus

ZERO = Decimal(0)
REFUND_TOPIC = "stripe.refund.create"
APPROVE_PERMISSION = "disputes.approve_refund"
REQUEST_PERMISSION = "disputes.request_refund"


def refund_key(refund_id: int) -> str:
    return f"refund:{refund_id}"


def refundable_amount(payment: Payment) -> Decimal:
    """What is still free to refund: captured minus our reserving refunds and refunds made
    directly on Stripe (``amount_refunded`` beyond what our succeeded refunds explain)."""
    ours = Refund.objects.filter(payment=payment, status__in=RESERVING)
    reserved = ours.aggregate(s=Sum("amount"))["s"] or ZERO
    succeeded = ours.filter(status=RefundStatus.SUCCEEDED).aggregate(s=Sum("amount"))["s"] or ZERO
    outside = max(ZERO, amount_of(payment.amount_refunded) - succeeded)
    return amount_of(payment.amount_captured) - reserved - outside


def _check_refundable(payment: Payment, amount: Decimal) -> None:
    if payment.status != PaymentStatus.SUCCEEDED or amount_of(payment.amount_captured) <= 0:
        raise Conflict(
            "payment_not_captured",
            f"Payment {payment} is {payment.status}: only a captured payment can be refunded.",
        )
    invoice = payment.invoice
    if invoice is not None and invoice.status == InvoiceStatus.VOID:
        raise Conflict(
            "invoice_void",
            f"Invoice {invoice} is void: nothing was collected on it "
            "to refund. Refund the payment of the invoice that replaced it.",
        )
    if invoice is not None and invoice.status != InvoiceStatus.PAID:
        raise Conflict(
            "invoice_unpaid",
            f"Invoice {invoice} is {invoice.status}, not paid: "
            "reduce what is due with a credit note instead of a refund.",
        )
    disputed = Dispute.objects.filter(payment=payment, status__in=DISPUTE_OPEN).first()
    if disputed is not None:
        raise Conflict(
            "charge_disputed",
            f"This charge is under dispute ({disputed.stripe_id}, "
            f"{disputed.get_status_display()}): it cannot be refunded while the "
            "dispute is open. Work the dispute instead.",
            details={"dispute": disputed.stripe_id},
        )
    if Dispute.objects.filter(payment=payment, status=DisputeStatus.LOST).exists():
        raise Conflict(
            "charge_charged_back",
            "This charge was lost in a dispute: the money "
            "already went back to the cardholder, Stripe refuses a refund.",
        )
    free = refundable_amount(payment)
    if amount > free:
        raise Conflict(
            "over_refund",
            f"Only {free} {payment.currency} of this payment is left to refund "
            f"(captured {amount_of(payment.amount_captured)}); {amount} is too much.",
            details={"refundable": str(free)},
        )


def _amount_from(
    payment: Payment, amount: Decimal | SupportsAmount | None, lines: Mapping[int, Decimal] | None
) -> tuple[Decimal, dict[str, str]]:
    if lines:
        if payment.invoice_id is None:
            raise AppError("validation_error", "This payment has no invoice to refund lines of.")
        known = set(
            InvoiceLine.objects.filter(
                invoice_id=payment.invoice_id, amount__gt=0, pk__in=list(lines)
            ).values_list("pk", flat=True)
        )
        unknown = set(lines) - known
        if unknown:
            raise AppError(
                "validation_error", "Lines not on this invoice.", details={"lines": sorted(unknown)}
            )
        clean = {str(pk): str(Decimal(value)) for pk, value in lines.items() if Decimal(value)}
        total = sum((Decimal(v) for v in clean.values()), ZERO)
        return total, clean
    if amount is None:  # full: whatever is left
        return refundable_amount(payment), {}
    if isinstance(amount, str):
        return Decimal(amount), {}
    return amount_of(amount, payment.currency), {}  # a Money must be in the payment's currency


@transaction.atomic
def refund_request(
    *,
    payment: Payment,
    reason: str,
    actor: User | None,
    amount: Decimal | SupportsAmount | None = None,
    lines: Mapping[int, Decimal] | None = None,
    reason_text: str = "",
    internal_note: str = "",
    source: str = RefundSource.AGENT,
    batch_ref: str = "",
) -> Refund:
    """Request a refund of ``amount`` (None = all that is left) or of invoice ``lines``.

    Guards run under a lock on the payment row. At or below the threshold the request is
    approved at once and queued for Stripe; above it, it waits for a Finance approver."""
    if reason not in RefundReason.values:
        raise AppError(
            "validation_error",
            "Choose a refund reason from the list.",
            details={"reason": ", ".join(RefundReason.values)},
        )
    if actor is not None and not actor.has_perm(REQUEST_PERMISSION):  # type: ignore[attr-defined]
        raise AppError("permission_denied", "You may not request refunds.", status_code=403)
    locked = (
        Payment.objects.select_for_update(of=("self",)).select_related("invoice").get(pk=payment.pk)
    )
    total, clean_lines = _amount_from(locked, amount, lines)
    if total <= 0 or not is_rounded(total, locked.currency):
        raise AppError(
            "validation_error",
            f"The amount must be positive, in {locked.currency}'s minor units.",
            details={"amount": str(total)},
        )
    _check_refundable(locked, total)
    needs_approval = total > Decimal(settings.REFUND_APPROVAL_THRESHOLD)
    refund = Refund.objects.create(
        payment=locked,
        invoice=locked.invoice,
        customer_id=locked.customer_id,
        amount=total,
        currency=locked.currency,
        lines=clean_lines,
        reason=reason,
        reason_text=reason_text,
        internal_note=internal_note,
        source=source,
        requested_by=actor,
        needs_approval=needs_approval,
        batch_ref=batch_ref,
    )
    RefundTransition.objects.create(
        refund=refund, to_status=RefundStatus.REQUESTED, actor=actor, note=reason_text
    )
    if not needs_approval:
        _approve(refund, actor=None, note="At or below the approval threshold.")
    return refund


def refund_transition(
    *, refund: Refund, to: str, actor: User | None = None, note: str = "", **fields: Any
) -> Refund:
    """Move ``refund`` to ``to`` if allowed from its current status (conditional UPDATE)."""
    current = Refund.objects.filter(pk=refund.pk).values_list("status", flat=True).first()
    if current is None:
        raise NotFound(f"Refund {refund.pk} does not exist.")
    if not can_transition(current, to):
        raise Conflict(
            "invalid_transition",
            f"Refund #{refund.pk} cannot go from {current} to {to}.",
            details={"status": current, "to": to},
        )
    updated = Refund.objects.filter(
        pk=refund.pk, status=current, status__in=refund_sources_of(to)
    ).update(status=to, updated_at=timezone.now(), **fields)
    if updated != 1:
        raise Conflict("invalid_transition", f"Refund #{refund.pk} changed status meanwhile.")
    RefundTransition.objects.create(
        refund_id=refund.pk, from_status=current, to_status=to, actor=actor, note=note
    )
    refund.refresh_from_db()
    if to in (RefundStatus.SUCCEEDED, RefundStatus.FAILED):  # final: one event per refund
        emit(f"refund.{to}", refund_event(refund), key=f"refund.{to}:{refund.pk}")
    return refund


def _approve(refund: Refund, *, actor: User | None, note: str) -> Refund:
    refund = refund_transition(
        refund=refund, to=RefundStatus.APPROVED, actor=actor, note=note, approved_by=actor
    )
    outbox_enqueue(REFUND_TOPIC, refund_key(refund.pk), {"refund_id": refund.pk})
    return refund


@transaction.atomic
def refund_approve(*, refund: Refund, actor: User, note: str = "") -> Refund:
    """Four eyes: the approver holds ``disputes.approve_refund`` and is not the requester."""
    if not actor.has_perm(APPROVE_PERMISSION):  # type: ignore[attr-defined]
        raise AppError(
            "permission_denied", "Only Finance approvers may approve refunds.", status_code=403
        )
    if refund.requested_by_id is not None and refund.requested_by_id == actor.pk:
        raise Conflict(
            "four_eyes", "You requested this refund: another Finance approver must approve it."
        )
    return _approve(refund, actor=actor, note=note or "Approved.")


@transaction.atomic
def refund_reject(*, refund: Refund, actor: User, note: str) -> Refund:
    if not actor.has_perm(APPROVE_PERMISSION):  # type: ignore[attr-defined]
        raise AppError(
            "permission_denied", "Only Finance approvers may reject refunds.", status_code=403
        )
    if not note.strip():
        raise AppError("reason_required", "Say why the refund is rejected.")
    return refund_transition(
        refund=refund, to=RefundStatus.REJECTED, actor=actor, note=note, settled_at=timezone.now()
    )


@transaction.atomic
def refund_cancel(*, refund: Refund, actor: User | None, note: str = "") -> Refund:
    """Withdraw a request before approval (after that, Stripe decides)."""
    return refund_transition(
        refund=refund,
        to=RefundStatus.CANCELED,
        actor=actor,
        note=note or "Canceled before approval.",
        settled_at=timezone.now(),
    )
