"""Refunds and Stripe: the outbox handler that creates the refund, and the code that applies
Stripe's refund objects (the create answer, ``refund.*`` and ``charge.refunded`` webhooks).

Invariants: the Stripe create carries the idempotency key ``refund:<id>`` (the outbox row's
key), so however often the handler runs there is one Stripe refund; a Stripe snapshot older
than the last applied one is ignored and settled statuses never move; a refund that reaches
``succeeded`` gets exactly one credit note (if it has a paid invoice) and one ledger posting.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from billingsite.money import amount_of, to_minor_units
from disputes.models import LedgerAccount, Refund
from disputes.services.ledger import ledger_post
from disputes.services.refunds import REFUND_TOPIC, refund_transition
from disputes.states import SETTLED, STRIPE_REFUND_REASON, RefundStatus, can_transition
from invoicing.models import InvoiceLine
from invoicing.states import InvoiceStatus
from invoicing.stripe.events import StripeEvent
from invoicing.stripe.gateway import default_gateway

logger = logging.getLogger(__name__)
ZERO = Decimal(0)


def refund_send(message: Any) -> dict[str, Any]:
    """Outbox handler for ``stripe.refund.create``: create the Stripe refund (once, by key) and
    apply Stripe's answer. A refund canceled before sending is skipped."""
    refund = Refund.objects.select_related("payment").get(pk=message.payload["refund_id"])
    if refund.status != RefundStatus.APPROVED and refund.stripe_refund_id is None:
        return {"skipped": refund.status}
    payment = refund.payment
    reason = STRIPE_REFUND_REASON.get(refund.reason)  # type: ignore[call-overload]
    target = (
        {"payment_intent_id": payment.stripe_payment_intent_id}
        if payment.stripe_payment_intent_id
        else {"charge_id": payment.stripe_charge_id}
    )
    created = default_gateway().refund_create(
        idempotency_key=message.key,
        amount=to_minor_units(amount_of(refund.amount), refund.currency),
        metadata={"tally_refund_id": str(refund.pk)},
        **({"reason": reason} if reason and refund.reason != "requested_by_customer" else {}),
        **target,
    )
    data: dict[str, Any] = created.to_dict()
    refund_apply_stripe(data, at=None, refund_id=refund.pk)
    return {"stripe_refund_id": data.get("id"), "status": data.get("status")}


def _refund_for(obj: dict[str, Any]) -> Refund | None:
    refund = Refund.objects.filter(stripe_refund_id=obj.get("id")).first()
    if refund is None:
        tally_id = str((obj.get("metadata") or {}).get("tally_refund_id") or "")
        if tally_id.isdigit():
            refund = Refund.objects.filter(pk=int(tally_id)).first()
    return refund


@transaction.atomic
def refund_apply_stripe(
    obj: dict[str, Any], *, at: datetime | None, refund_id: int | None = None
) -> Refund | None:
    """Apply one Stripe refund snapshot (taken at ``at``; None = the create's own answer).

    Refunds Stripe made without us (dashboard) are left to reconciliation."""
    found = Refund.objects.filter(pk=refund_id).first() if refund_id else _refund_for(obj)
    if found is None:
        return None
    refund = Refund.objects.select_for_update().get(pk=found.pk)
    if at is not None and refund.last_event_at is not None and at < refund.last_event_at:
        return refund  # an older snapshot: what we have is newer
    stamp: dict[str, Any] = {"last_event_at": at} if at is not None else {}
    if refund.stripe_refund_id is None and obj.get("id"):
        stamp["stripe_refund_id"] = obj["id"]
    if stamp:
        Refund.objects.filter(pk=refund.pk).update(**stamp, updated_at=timezone.now())
        refund.refresh_from_db()
    target = str(obj.get("status") or "")
    if target == refund.status or refund.status in SETTLED:
        return refund
    if target not in RefundStatus.values or not can_transition(refund.status, target):
        logger.warning(
            "refund %s: Stripe status %s not applicable from %s", refund.pk, target, refund.status
        )
        return refund
    fields: dict[str, Any] = {}
    if target in SETTLED:
        fields["settled_at"] = timezone.now()
    if target == RefundStatus.FAILED:
        fields["failure_reason"] = str(obj.get("failure_reason") or "")[:255]
    refund = refund_transition(refund=refund, to=target, note=f"Stripe: {target}", **fields)
    if target == RefundStatus.SUCCEEDED:
        refund_record_success(refund)
    return refund


def refund_record_success(refund: Refund) -> None:
    """Credit note against the paid invoice (``refund`` outcome) and the ledger posting."""
    from invoicing.services.credit_notes import credit_note_create

    invoice = refund.invoice
    # A duplicate payment's refund returns money the invoice never asked for: no credit note.
    if (
        invoice is not None
        and refund.credit_note_id is None
        and invoice.status == InvoiceStatus.PAID
        and refund.source != "duplicate_payment"
    ):
        note = credit_note_create(
            invoice=invoice,
            reason=_note_reason(refund),
            outcome="refund",
            lines=_credit_lines(refund),
            actor=refund.requested_by,
        )
        Refund.objects.filter(pk=refund.pk).update(credit_note=note)
    ledger_post(
        key=f"refund:{refund.pk}:succeeded",
        currency=refund.currency,
        lines=[
            (LedgerAccount.REFUNDS, amount_of(refund.amount)),
            (LedgerAccount.CASH, -amount_of(refund.amount)),
        ],
        memo=f"Refund #{refund.pk}",
        refund=refund,
        invoice=invoice,
        customer_id=refund.customer_id,
    )


def _note_reason(refund: Refund) -> str:
    text = f"Refund #{refund.pk}: {refund.get_reason_display()}"
    return f"{text}. {refund.reason_text}" if refund.reason_text else text


def _credit_lines(refund: Refund) -> dict[int, Decimal]:
    """The refund's lines, or its amount spread over the invoice's lines in order (each line
    up to what is left of it), so the note credits exactly the refunded amount."""
    from invoicing.services.credit_notes import credited_by_line

    if refund.lines:
        return {int(pk): Decimal(v) for pk, v in refund.lines.items()}
    invoice = refund.invoice
    assert invoice is not None
    already = credited_by_line(invoice)
    left, out = amount_of(refund.amount), {}
    for line in InvoiceLine.objects.filter(invoice=invoice, amount__gt=0).order_by("pk"):
        take = min(left, amount_of(line.amount) - already.get(line.pk, ZERO))
        if take > 0:
            out[line.pk] = take
            left -= take
        if left <= 0:
            break
    return out


def _at(event: StripeEvent) -> datetime:
    return datetime.fromtimestamp(event.created, tz=UTC)


def on_refund_event(event: StripeEvent) -> None:
    """``refund.created/updated/failed`` and ``charge.refund.updated``."""
    refund_apply_stripe(event.data_object, at=_at(event))


def on_charge_refunded(event: StripeEvent) -> None:
    """``charge.refunded``: apply each refund the charge lists (older API versions embed them);
    the payment's refunded amount itself is invoicing's."""
    refunds = (event.data_object.get("refunds") or {}).get("data") or []
    for obj in refunds:
        if isinstance(obj, dict):
            refund_apply_stripe(obj, at=_at(event))


def register() -> None:
    from billingsite.outbox.registry import register_outbox_handler
    from invoicing.stripe.events import handlers

    register_outbox_handler(REFUND_TOPIC, refund_send)
    for event_type in (
        "refund.created",
        "refund.updated",
        "refund.failed",
        "charge.refund.updated",
    ):
        handlers.register(event_type, on_refund_event)
    handlers.register("charge.refunded", on_charge_refunded)
