"""``data`` of the invoicing events announced through ``billingsite.events.emit`` (schemas in
``billingsite.webhooks.catalog``): small, flat objects; receivers read details from the API."""

from __future__ import annotations

from typing import Any

from billingsite.events import emit, emit_many
from billingsite.money import amount_of, format_amount, round_line
from invoicing.models import CreditGrant, CreditNote, CreditPurchase, Invoice, Payment


def _money(amount: Any, currency: str) -> str:
    return format_amount(round_line(amount_of(amount, currency), currency), currency)


def invoice_event(invoice: Invoice) -> dict[str, Any]:
    return {
        "invoice": {
            "id": invoice.pk,
            "number": invoice.number,
            "status": invoice.status,
            "kind": invoice.kind,
            "customer": invoice.customer.external_id,
            "currency": invoice.currency,
            "total": _money(invoice.total, invoice.currency),
            "period_start": invoice.period_start,
            "period_end": invoice.period_end,
            "issued_at": invoice.issued_at,
            "due_at": invoice.due_at,
            "paid_at": invoice.paid_at,
            "voided_at": invoice.voided_at,
            "void_reason": invoice.void_reason,
        }
    }


def payment_failed_event(payment: Payment) -> dict[str, Any]:
    assert payment.invoice is not None
    return {
        **invoice_event(payment.invoice),
        "payment": {
            "id": payment.pk,
            "stripe_payment_intent_id": payment.stripe_payment_intent_id,
            "stripe_charge_id": payment.stripe_charge_id,
            "amount": _money(payment.amount, payment.currency),
            "currency": payment.currency,
            "status": payment.status,
            "failure_code": payment.failure_code,
            "decline_code": payment.decline_code,
            "failure_message": payment.failure_message,
        },
    }


def credit_note_event(note: CreditNote) -> dict[str, Any]:
    return {
        "credit_note": {
            "number": note.number,
            "invoice": note.invoice.number,
            "customer": note.invoice.customer.external_id,
            "currency": note.currency,
            "outcome": note.outcome,
            "reason": note.reason,
            "total": _money(note.total, note.currency),
            "created_at": note.created_at,
        }
    }


def credit_grant_event(grant: CreditGrant) -> dict[str, Any]:
    return {
        "credit_grant": {
            "id": grant.pk,
            "customer": grant.customer.external_id,
            "kind": grant.kind,
            "currency": grant.currency,
            "amount": _money(grant.amount, grant.currency),
            "effective_at": grant.effective_at,
            "expires_at": grant.expires_at,
            "note": grant.note,
        }
    }


def credit_purchase_event(purchase: CreditPurchase) -> dict[str, Any]:
    return {
        "credit_purchase": {
            "id": purchase.pk,
            "customer": purchase.customer.external_id,
            "source": purchase.source,
            "rule": purchase.rule_id,
            "currency": purchase.currency,
            "amount": _money(purchase.amount, purchase.currency),
            "status": purchase.status,
            "credit_grant": purchase.grant_id,
            "stripe_payment_intent_id": purchase.stripe_payment_intent_id or None,
            "failure_code": purchase.failure_code,
            "failure_message": purchase.failure_message,
        }
    }


def invoice_announce(event_type: str, invoice: Invoice) -> None:
    """Emit ``event_type`` for the invoice; the key names the change (one per invoice, as each
    of these happens once in an invoice's life)."""
    emit(event_type, invoice_event(invoice), key=f"{event_type}:{invoice.pk}")


def invoices_announce(event_type: str, invoices: list[Invoice]) -> None:
    """``invoice_announce`` for many invoices at once (``billingsite.events.emit_many``)."""
    emit_many(event_type, [(invoice_event(i), f"{event_type}:{i.pk}") for i in invoices])
