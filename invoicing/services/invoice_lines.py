"""An invoice's lines as stored rows: written from a computation, rewritten on a draft only when
the computation changed (so re-running a billing run changes nothing), the total always the sum
of the rounded lines."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from billingsite.money import amount_of
from invoicing.models import Invoice, InvoiceLine
from invoicing.selectors.computation import InvoiceComputation, LineDraft
from invoicing.states import InvoiceStatus

SIGNATURE = (
    "kind",
    "description",
    "period_start",
    "period_end",
    "amount",
    "charge_key",
    "meter_key",
    "quantity",
    "price",
    "breakdown",
    "overrides",
    "details",
    "credit_grant_id",
    "adjusts_invoice_id",
)


def _signature(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """A line's ``SIGNATURE`` values, with the amount and quantity normalized."""
    kind, description, start, end, amount, charge, meter, quantity, *rest = values
    quantity = None if quantity is None else Decimal(quantity).normalize()
    amount = amount_of(amount).normalize()
    return (kind, description, start, end, amount, charge, meter, quantity, *rest)


def draft_lines_store(
    invoice: Invoice,
    computation: InvoiceComputation,
    now: datetime,
    stored: list[tuple[Any, ...]] | None = None,
) -> bool:
    """Replace the draft's lines when they differ from ``computation``; True if written.
    The stored lines are read as plain values (no model instances: finalizing reads them
    for every invoice); a caller that read them already (``stored_lines``) passes them."""
    if stored is None:
        stored = list(invoice.lines.order_by("position").values_list(*SIGNATURE))
    wanted = computation.lines
    if [_signature(s) for s in stored] == [
        _signature(tuple(getattr(w, name) for name in SIGNATURE)) for w in wanted
    ] and amount_of(invoice.total) == computation.total:
        return False
    invoice.lines.all().delete()
    lines_insert(invoice, wanted)
    Invoice.objects.filter(pk=invoice.pk, status=InvoiceStatus.DRAFT).update(
        total=computation.total, refreshed_at=now
    )
    invoice.total = computation.total
    return True


def stored_lines(invoice_ids: list[int]) -> dict[int, list[tuple[Any, ...]]]:
    """The ``SIGNATURE`` values of the stored lines of many invoices in one query, by invoice
    (in position order; an invoice without lines is absent)."""
    found: dict[int, list[tuple[Any, ...]]] = {}
    rows = InvoiceLine.objects.filter(invoice_id__in=invoice_ids).order_by("invoice_id", "position")
    for invoice_id, *values in rows.values_list("invoice_id", *SIGNATURE):
        found.setdefault(invoice_id, []).append(tuple(values))
    return found


def lines_insert(invoice: Invoice, lines: list[LineDraft]) -> None:
    InvoiceLine.objects.bulk_create(line_rows(invoice, lines))


def line_rows(invoice: Invoice, lines: list[LineDraft]) -> list[InvoiceLine]:
    """The unsaved rows of ``lines`` on ``invoice`` (a saved one)."""
    return [
        InvoiceLine(
            invoice=invoice,
            currency=invoice.currency,
            position=index,
            kind=line.kind,
            description=line.description[:300],
            charge_key=line.charge_key,
            meter_key=line.meter_key,
            period_start=line.period_start,
            period_end=line.period_end,
            quantity=line.quantity,
            amount=line.amount,
            price=line.price,
            breakdown=line.breakdown,
            overrides=line.overrides,
            details=line.details,
            credit_grant_id=line.credit_grant_id,
            adjusts_invoice_id=line.adjusts_invoice_id,
        )
        for index, line in enumerate(lines)
    ]
