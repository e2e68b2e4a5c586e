"""JSON shapes of invoices, lines, computations and credits: money as strings in major units
with the currency's places, times in RFC 3339 (DRF's encoder)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from billingsite.money import (
    SupportsAmount,
    amount_of,
    format_amount,
    format_decimal,
    round_line,
)
from invoicing.models import Contract, CreditGrant, CreditNote, Invoice, InvoiceLine
from invoicing.selectors.computation import InvoiceComputation, LineDraft
from invoicing.services.credit_notes import invoice_amount_due


def money(amount: Decimal | int | SupportsAmount, currency: str) -> str:
    return format_amount(round_line(amount_of(amount, currency), currency), currency)


def line_data(line: InvoiceLine | LineDraft, currency: str) -> dict[str, Any]:
    return {
        "kind": line.kind,
        "description": line.description,
        "charge": line.charge_key or None,
        "meter": line.meter_key or None,
        "period_start": line.period_start,
        "period_end": line.period_end,
        "quantity": None
        if line.quantity is None
        else format_decimal(Decimal(line.quantity).normalize()),
        "amount": money(line.amount, currency),
        "price": line.price,
        "breakdown": line.breakdown,
        "overrides": line.overrides,
        "credit_grant": line.credit_grant_id,
        "adjusts_invoice": line.adjusts_invoice_id,
        "details": line.details,
    }


def invoice_data(invoice: Invoice) -> dict[str, Any]:
    currency = invoice.currency
    return {
        "number": invoice.number,
        "status": invoice.status,
        "kind": invoice.kind,
        "customer": invoice.customer.external_id,
        "currency": currency,
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "issued_at": invoice.issued_at,
        "due_at": invoice.due_at,
        "paid_at": invoice.paid_at,
        "voided_at": invoice.voided_at,
        "total": money(invoice.total, currency),
        "amount_due": money(invoice_amount_due(invoice), currency),
        "replaces": invoice.replaces.number if invoice.replaces_id and invoice.replaces else None,
        "replaced_by": _replacement_number(invoice),
        "lines": [{"id": line.pk, **line_data(line, currency)} for line in invoice.lines.all()],
        "credit_notes": [
            {
                "number": note.number,
                "outcome": note.outcome,
                "reason": note.reason,
                "total": money(note.total, currency),
                "created_at": note.created_at,
            }
            for note in invoice.credit_notes.all()
        ],
    }


def _replacement_number(invoice: Invoice) -> str | None:
    """The re-issue's number; None when there is none or it is still a draft (not public)."""
    replacement = Invoice.objects.filter(replaces=invoice).values_list("number", flat=True)
    return replacement.first()


def credit_note_data(note: CreditNote) -> dict[str, Any]:
    currency = note.invoice.currency
    return {
        "number": note.number,
        "invoice": note.invoice.number,
        "customer": note.invoice.customer.external_id,
        "currency": currency,
        "outcome": note.outcome,
        "reason": note.reason,
        "total": money(note.total, currency),
        "credit_grant": note.credit_grant_id,
        "lines": [
            {
                "line_id": line.invoice_line_id,
                "description": line.description,
                "amount": money(line.amount, currency),
            }
            for line in note.lines.all()
        ],
        "created_at": note.created_at,
    }


def computation_data(contract: Contract, computation: InvoiceComputation) -> dict[str, Any]:
    currency = computation.currency
    return {
        "status": "upcoming",
        "customer": contract.customer.external_id,
        "contract": contract.pk,
        "currency": currency,
        "period_start": computation.period.start,
        "period_end": computation.period.end,
        "total": money(computation.total, currency),
        "lines": [line_data(line, currency) for line in computation.lines],
    }


def grant_data(grant: CreditGrant) -> dict[str, Any]:
    currency = grant.currency
    return {
        "id": grant.pk,
        "kind": grant.kind,
        "currency": currency,
        "amount": money(grant.amount, currency),
        "balance": money(grant.balance, currency),  # type: ignore[attr-defined]
        "effective_at": grant.effective_at,
        "expires_at": grant.expires_at,
        "priority": grant.priority,
        "note": grant.note,
        "entries": [
            {
                "id": e.pk,
                "kind": e.kind,
                "amount": money(e.amount, currency),
                "invoice": e.invoice.number if e.invoice_id and e.invoice else None,
                "created_at": e.created_at,
            }
            for e in grant.entries.all()
        ],
    }
