"""Apply what Stripe reports about invoices and payments (webhook events and polls).

Each ``*_apply`` function takes a Stripe object as a plain dict and the Stripe time it describes
(``at``: the event's ``created``, or the poll time), locks the mirror row and moves it forward
only:

- an older snapshot than the one applied last is ignored (out-of-order delivery);
- a settled status is never undone: a paid or void Stripe invoice stays so, a succeeded
  payment never becomes failed (``invoice.payment_failed`` after ``invoice.paid`` is a no-op);
- a Stripe invoice that becomes ``paid`` marks the Tally invoice paid through
  ``invoice_transition`` (a no-op when it is paid already).

They never call Stripe and run inside the caller's transaction (the inbox's, or their own).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Customer
from billingsite.events import emit
from billingsite.money import amount_of, from_minor_units, normalize_currency
from invoicing.collections.services import collection_resolve, collection_start
from invoicing.event_payloads import payment_failed_event
from invoicing.models import Invoice, Payment, PaymentStatus, StripeInvoice
from invoicing.services.invoices import invoice_transition
from invoicing.states import InvoiceStatus

logger = logging.getLogger(__name__)

INVOICE_RANK = {"draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3}
SETTLED_INVOICE = {"paid", "void"}
PI_STATUS = {
    "succeeded": PaymentStatus.SUCCEEDED,
    "processing": PaymentStatus.PROCESSING,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    "requires_confirmation": PaymentStatus.PROCESSING,
    "requires_capture": PaymentStatus.PROCESSING,
    "requires_payment_method": PaymentStatus.FAILED,
    "canceled": PaymentStatus.CANCELED,
}
CHARGE_STATUS = {
    "succeeded": PaymentStatus.SUCCEEDED,
    "pending": PaymentStatus.PROCESSING,
    "failed": PaymentStatus.FAILED,
}


def stripe_time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if isinstance(value, int) else None


def object_id(value: Any) -> str | None:
    """An id field that may come expanded (localstripe expands ``latest_charge``)."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _amount(minor: Any, currency: str) -> Decimal:
    return from_minor_units(int(minor or 0), currency)


def _currency(obj: dict[str, Any]) -> str:
    return normalize_currency(str(obj.get("currency") or "usd").upper())


# --- invoices ------------------------------------------------------------------------------------


def _tally_invoice_id(obj: dict[str, Any]) -> int | None:
    raw = (obj.get("metadata") or {}).get("tally_invoice_id")
    return int(raw) if isinstance(raw, str) and raw.isdigit() else None


def tally_invoice_id_of(obj: dict[str, Any]) -> int | None:
    """The Tally invoice a Stripe invoice object stands for (its mirror row, or metadata)."""
    linked = StripeInvoice.objects.filter(stripe_id=obj.get("id")).values_list("invoice_id")
    found = linked.first()
    return found[0] if found is not None else _tally_invoice_id(obj)


def _link_for(obj: dict[str, Any]) -> StripeInvoice | None:
    """The mirror row, locked; created from the metadata when the event beat the outbox."""
    link = StripeInvoice.objects.select_for_update().filter(stripe_id=obj["id"]).first()
    if link is not None:
        return link
    invoice_id = _tally_invoice_id(obj)
    if invoice_id is None or not Invoice.objects.filter(pk=invoice_id).exists():
        return None
    try:
        with transaction.atomic():
            StripeInvoice.objects.create(
                invoice_id=invoice_id,
                stripe_id=obj["id"],
                status="draft",
                collection_method=str(obj.get("collection_method") or ""),
                currency=_currency(obj),
                stripe_created=stripe_time(obj.get("created")),
            )
    except IntegrityError:
        pass  # created concurrently (by stripe id) or another Stripe invoice claims ours
    return StripeInvoice.objects.select_for_update().filter(stripe_id=obj["id"]).first()


def stripe_invoice_apply(obj: dict[str, Any], *, at: datetime) -> str:
    """Mirror a Stripe invoice snapshot taken at ``at``; returns what happened."""
    if obj.get("object") != "invoice" or not isinstance(obj.get("id"), str):
        return "not an invoice"
    with transaction.atomic():
        link = _link_for(obj)
        if link is None:
            return "unknown invoice"
        status = str(obj.get("status") or link.status)
        if link.status in SETTLED_INVOICE and status != link.status:
            return f"ignored: already {link.status}"
        if link.last_event_at is not None and at < link.last_event_at:
            return "ignored: older than the state applied"
        if INVOICE_RANK.get(status, 0) < INVOICE_RANK.get(link.status, 0):
            return f"ignored: {status} would go back from {link.status}"
        link.status = status
        link.total_minor = int(obj.get("total") or obj.get("amount_due") or 0)
        link.amount_paid_minor = int(obj.get("amount_paid") or 0)
        link.hosted_invoice_url = str(obj.get("hosted_invoice_url") or "")[:1000]
        link.last_event_at = at
        link.save()
        _payments_of_invoice(obj, link)
        if status == "paid":
            return _mark_tally_paid(link, obj, at)
        if status == "open" and _has_failed_payment(link.invoice_id):
            collection_start(invoice_id=link.invoice_id, at=at, reason="payment failed on Stripe")
        return f"stripe invoice {status}"


def _has_failed_payment(invoice_id: int) -> bool:
    return Payment.objects.filter(invoice_id=invoice_id, status=PaymentStatus.FAILED).exists()


def _mark_tally_paid(link: StripeInvoice, obj: dict[str, Any], at: datetime) -> str:
    invoice = Invoice.objects.select_for_update().get(pk=link.invoice_id)
    if invoice.status not in (
        InvoiceStatus.FINALIZED,
        InvoiceStatus.PAST_DUE,
        InvoiceStatus.UNCOLLECTIBLE,
    ):
        return f"tally invoice already {invoice.status}"
    paid_at = stripe_time((obj.get("status_transitions") or {}).get("paid_at")) or at
    invoice_transition(
        invoice=invoice,
        to=InvoiceStatus.PAID,
        reason=f"paid on Stripe ({link.stripe_id})",
        paid_at=paid_at,
    )
    collection_resolve(invoice_id=invoice.pk, at=at, reason=f"paid on Stripe ({link.stripe_id})")
    return "tally invoice marked paid"


def _payments_of_invoice(obj: dict[str, Any], link: StripeInvoice) -> None:
    """Link the invoice's payments (new API shape ``payments``; old ``payment_intent``)."""
    intents = {object_id(obj.get("payment_intent"))}
    for item in (obj.get("payments") or {}).get("data") or []:
        intents.add(object_id((item.get("payment") or {}).get("payment_intent")))
    for intent_id in intents - {None}:
        Payment.objects.filter(stripe_payment_intent_id=intent_id, invoice__isnull=True).update(
            invoice_id=link.invoice_id, updated_at=timezone.now()
        )


# --- payments ------------------------------------------------------------------------------------


def _customer(stripe_customer_id: str | None) -> Customer | None:
    if not stripe_customer_id:
        return None
    return Customer.objects.filter(stripe_customer_id=stripe_customer_id).first()


def _invoice_for(stripe_invoice_id: str | None, metadata: dict[str, Any]) -> int | None:
    if stripe_invoice_id:
        found = (
            StripeInvoice.objects.filter(stripe_id=stripe_invoice_id)
            .values_list("invoice_id", flat=True)
            .first()
        )
        if found is not None:
            return found
    return _tally_invoice_id({"metadata": metadata})


def payment_intent_apply(obj: dict[str, Any], *, at: datetime) -> str:
    """Mirror a payment intent: amount, amount received, status, Stripe's failure reason."""
    if obj.get("object") != "payment_intent":
        return "not a payment intent"
    currency = _currency(obj)
    error = obj.get("last_payment_error") or {}
    status = PI_STATUS.get(str(obj.get("status")), PaymentStatus.PROCESSING)
    latest = obj.get("latest_charge")
    charge: dict[str, Any] = latest if isinstance(latest, dict) else {}
    fields = {
        "currency": currency,
        "amount": _amount(obj.get("amount"), currency),
        "amount_captured": _amount(_received(obj, status), currency),
        "status": status,
        "failure_code": str(error.get("code") or "")[:100] if status == "failed" else "",
        "decline_code": str(error.get("decline_code") or "")[:100] if status == "failed" else "",
        "failure_message": str(error.get("message") or "") if status == "failed" else "",
    }
    if charge.get("amount_refunded") is not None:
        fields["amount_refunded"] = _amount(charge.get("amount_refunded"), currency)
    return payment_record(
        intent_id=str(obj["id"]),
        charge_id=object_id(obj.get("latest_charge")),
        customer=_customer(object_id(obj.get("customer"))),
        invoice_id=_invoice_for(object_id(obj.get("invoice")), obj.get("metadata") or {}),
        created=stripe_time(obj.get("created")),
        at=at,
        fields=fields,
    )


def _received(intent: dict[str, Any], status: str) -> int:
    """``amount_received``; older API shapes (and localstripe) omit it: a succeeded intent
    without it received its whole amount."""
    if intent.get("amount_received") is not None:
        return int(intent["amount_received"])
    return int(intent.get("amount") or 0) if status == PaymentStatus.SUCCEEDED else 0


def _captured(charge: dict[str, Any], status: str) -> int:
    if charge.get("amount_captured") is not None:
        return int(charge["amount_captured"])
    captured = charge.get("captured", True) and status == PaymentStatus.SUCCEEDED
    return int(charge.get("amount") or 0) if captured else 0


def charge_apply(obj: dict[str, Any], *, at: datetime) -> str:
    """Mirror a charge (``charge.succeeded/failed/refunded/captured/...``)."""
    if obj.get("object") != "charge":
        return "not a charge"
    currency = _currency(obj)
    status = CHARGE_STATUS.get(str(obj.get("status")), PaymentStatus.PROCESSING)
    outcome = obj.get("outcome") or {}
    fields = {
        "currency": currency,
        "amount": _amount(obj.get("amount"), currency),
        "amount_captured": _amount(_captured(obj, status), currency),
        "amount_refunded": _amount(obj.get("amount_refunded"), currency),
        "status": status,
        "failure_code": str(obj.get("failure_code") or "")[:100],
        "decline_code": str(outcome.get("reason") or "")[:100] if status == "failed" else "",
        "failure_message": str(obj.get("failure_message") or ""),
    }
    return payment_record(
        intent_id=object_id(obj.get("payment_intent")),
        charge_id=str(obj["id"]),
        customer=_customer(object_id(obj.get("customer"))),
        invoice_id=_invoice_for(object_id(obj.get("invoice")), obj.get("metadata") or {}),
        created=stripe_time(obj.get("created")),
        at=at,
        fields=fields,
    )


def payment_record(
    *,
    intent_id: str | None,
    charge_id: str | None,
    customer: Customer | None,
    invoice_id: int | None,
    created: datetime | None,
    at: datetime,
    fields: dict[str, Any],
) -> str:
    """Create or move forward the ``Payment`` for this intent/charge (see module docstring)."""
    with transaction.atomic():
        row = _locked_payment(intent_id, charge_id)
        if row is None:
            if customer is None:
                return "ignored: customer unknown to Tally"
            row = _payment_create(intent_id, charge_id, customer, invoice_id, created, at, fields)
            if row is not None:
                _announce_failure(row)
                _collections_on_failure(row, at)
                return f"payment {row.status}"
            row = _locked_payment(intent_id, charge_id)
            assert row is not None
        row.stripe_payment_intent_id = row.stripe_payment_intent_id or intent_id
        row.stripe_charge_id = row.stripe_charge_id or charge_id
        row.invoice_id = row.invoice_id or invoice_id
        row.stripe_created = row.stripe_created or created
        stale = row.last_event_at is not None and at < row.last_event_at
        settled = row.status == PaymentStatus.SUCCEEDED and fields["status"] != row.status
        if not stale and not settled:
            for name, value in fields.items():
                setattr(row, name, value)
            row.last_event_at = at
        elif fields.get("amount_refunded", Decimal(0)) > amount_of(row.amount_refunded):
            row.amount_refunded = fields["amount_refunded"]  # refunds only ever grow
        row.save()
        _announce_failure(row)
        _collections_on_failure(row, at)
        return f"payment {row.status}" + (" (stale snapshot ignored)" if stale or settled else "")


def _announce_failure(payment: Payment) -> None:
    """``invoice.payment_failed`` once per failed payment of an invoice (the key dedupes the
    intent's and the charge's events about the same failure)."""
    if payment.status == PaymentStatus.FAILED and payment.invoice_id is not None:
        key = f"invoice.payment_failed:{payment.pk}"
        emit("invoice.payment_failed", payment_failed_event(payment), key=key)


def _collections_on_failure(row: Payment, at: datetime) -> None:
    """A failed payment of an invoice starts its collections (once: a no-op after that)."""
    if row.status == PaymentStatus.FAILED and row.invoice_id is not None:
        reason = row.failure_message or row.failure_code or "payment failed"
        collection_start(invoice_id=row.invoice_id, at=at, reason=reason)


def _locked_payment(intent_id: str | None, charge_id: str | None) -> Payment | None:
    match = Q(pk__in=[])
    if intent_id:
        match |= Q(stripe_payment_intent_id=intent_id)
    if charge_id:
        match |= Q(stripe_charge_id=charge_id)
    return Payment.objects.select_for_update().filter(match).order_by("pk").first()


def _payment_create(
    intent_id: str | None,
    charge_id: str | None,
    customer: Customer,
    invoice_id: int | None,
    created: datetime | None,
    at: datetime,
    fields: dict[str, Any],
) -> Payment | None:
    try:
        with transaction.atomic():
            return Payment.objects.create(
                stripe_payment_intent_id=intent_id,
                stripe_charge_id=charge_id,
                customer=customer,
                invoice_id=invoice_id,
                stripe_created=created,
                last_event_at=at,
                **fields,
            )
    except IntegrityError:
        return None  # a concurrent event created it; the caller locks and updates it
