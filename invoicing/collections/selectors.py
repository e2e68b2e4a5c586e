"""Collections reads: an invoice's dunning steps and the accounts-receivable aging report.

The aging report lists the open invoices (finalized or past due; not the ones written off as
uncollectible) by what is still due on each (the total less credit notes that reduce the
amount due), bucketed by days past the due date and summed per currency; each currency's total
is the sum of its invoices' amounts due, to the minor unit.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import DecimalField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from billingsite.money import (
    amount_of,
    format_decimal,
    from_minor_units,
    sum_lines,
    to_minor_units,
)
from invoicing.models import CreditNote, DunningStep, Invoice
from invoicing.models.credit_notes import CreditNoteOutcome
from invoicing.states import OPEN_STATUSES

BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
ZERO = Decimal(0)


def dunning_steps(invoice: Invoice) -> QuerySet[DunningStep]:
    return DunningStep.objects.filter(invoice=invoice).order_by("taken_at", "pk")


def aging_bucket(due_at: datetime | None, now: datetime) -> str:
    """``current`` until the due date, then by whole days past it (a part day counts in 1-30)."""
    if due_at is None or due_at >= now:
        return "current"
    days = (now - due_at).days
    if days <= 30:
        return "1-30"
    if days <= 60:
        return "31-60"
    if days <= 90:
        return "61-90"
    return "90+"


@dataclass(frozen=True)
class AgingInvoice:
    invoice_id: int
    number: str
    customer: str
    currency: str
    due_at: datetime | None
    amount_due: Decimal
    bucket: str


@dataclass
class AgingRow:
    currency: str
    buckets: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(BUCKETS, ZERO))
    total: Decimal = ZERO
    invoices: int = 0


def open_invoices_due(*, customer_id: int | None = None) -> QuerySet[Invoice]:
    """Open invoices annotated with ``reduced`` (credit notes reducing the amount due)."""
    reduced = (
        CreditNote.objects.filter(
            invoice=OuterRef("pk"), outcome=CreditNoteOutcome.REDUCE_AMOUNT_DUE
        )
        .values("invoice")
        .annotate(s=Sum("total"))
        .values("s")
    )
    amount = DecimalField(max_digits=24, decimal_places=4)
    qs = Invoice.objects.filter(status__in=OPEN_STATUSES).annotate(
        reduced=Coalesce(Subquery(reduced, output_field=amount), Value(ZERO), output_field=amount)
    )
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    return qs.select_related("customer").order_by("currency", "due_at", "pk")


def aging_invoices(*, now: datetime, customer_id: int | None = None) -> list[AgingInvoice]:
    rows = []
    for invoice in open_invoices_due(customer_id=customer_id):
        due = amount_of(invoice.total) - invoice.reduced  # type: ignore[attr-defined]
        # in the currency's places (stored amounts carry 4): exact, both are rounded already
        due = from_minor_units(to_minor_units(due, invoice.currency), invoice.currency)
        if due <= 0:
            continue
        rows.append(
            AgingInvoice(
                invoice_id=invoice.pk,
                number=str(invoice.number),
                customer=invoice.customer.external_id,
                currency=invoice.currency,
                due_at=invoice.due_at,
                amount_due=due,
                bucket=aging_bucket(invoice.due_at, now),
            )
        )
    return rows


def ar_aging(*, now: datetime, customer_id: int | None = None) -> list[AgingRow]:
    """One row per currency: the amounts due per bucket, their total and the invoice count."""
    by_currency: dict[str, list[AgingInvoice]] = {}
    for item in aging_invoices(now=now, customer_id=customer_id):
        by_currency.setdefault(item.currency, []).append(item)
    result = []
    for currency, items in sorted(by_currency.items()):
        row = AgingRow(currency=currency, invoices=len(items))
        for bucket in BUCKETS:
            row.buckets[bucket] = sum_lines(
                (i.amount_due for i in items if i.bucket == bucket), currency
            )
        row.total = sum_lines((i.amount_due for i in items), currency)
        result.append(row)
    return result


def ar_aging_csv(rows: Iterable[AgingRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["currency", *BUCKETS, "total", "invoices"])
    for row in rows:
        writer.writerow(
            [
                row.currency,
                *(format_decimal(row.buckets[b]) for b in BUCKETS),
                format_decimal(row.total),
                row.invoices,
            ]
        )
    return out.getvalue()
