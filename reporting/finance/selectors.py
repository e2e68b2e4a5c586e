"""Reads behind the finance dashboard, every figure per currency (amounts of different
currencies are never added or converted).

- MRR: the recurring fixed fees (flat charges) of the contracts active on a day, after rate
  overrides and before discounts, normalized to a month (quarterly / 3, annual / 12); ARR is
  12 x MRR.
- Usage revenue: the usage lines (and late-usage adjustments) of issued, not voided invoices,
  by the UTC month their period starts.
- NRR (trailing twelve months): revenue of the last 12 months from the customers that had
  revenue in the 12 months before, divided by their revenue in those 12 months before.
  Revenue = totals of issued, not voided invoices, by period start. Customers new in the last
  12 months are left out of both sides, so NRR measures expansion, contraction and churn.
- AR aging: the amount still due of finalized and uncollectible invoices, by days past due.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q, Sum
from django.db.models.functions import TruncMonth

from accounts.models import Customer
from billingsite.money import amount_of
from invoicing.models import (
    ChargeKind,
    Contract,
    CreditNote,
    CreditNoteOutcome,
    Invoice,
    InvoiceLine,
    LineKind,
)
from invoicing.models.catalog import Cadence
from invoicing.selectors.invoices import ISSUED
from invoicing.selectors.terms import ContractTerms, apply_override

ZERO = Decimal(0)
TWELVE = Decimal(12)


def month_starts(today: date, count: int) -> list[date]:
    """The first days of the last ``count`` months, oldest first, this month last."""
    months, year, month = [], today.year, today.month
    for _ in range(count):
        months.append(date(year, month, 1))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return months[::-1]


def _monthly_fixed_fee(terms: ContractTerms, day: date) -> Decimal:
    version = terms.version_on(day)
    months = Decimal(Cadence(version.cadence).months)
    total = ZERO
    for charge in terms.charges_by_version[version.pk].values():
        if charge.kind != ChargeKind.FIXED:
            continue
        price: dict[str, Any] = dict(charge.price)
        for override in terms.overrides:
            in_effect = override.effective_from <= day and (
                override.effective_to is None or day < override.effective_to
            )
            if override.charge_key == charge.key and in_effect:
                price = apply_override(price, override)
        if price.get("model") == "flat":
            total += Decimal(str(price.get("amount") or 0)) / months
    return total


def _active_contracts(day: date) -> list[Contract]:
    return list(
        Contract.objects.filter(start_date__lte=day)
        .filter(Q(end_date__isnull=True) | Q(end_date__gt=day))
        .select_related("plan_version__plan")
        .prefetch_related("amendments__plan_version__charges", "plan_version__charges", "overrides")
    )


def mrr_on(day: date) -> dict[str, Decimal]:
    """{currency: MRR} of the contracts active on ``day``."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for contract in _active_contracts(day):
        terms = ContractTerms.load(contract)
        totals[terms.version_on(day).plan.currency] += _monthly_fixed_fee(terms, day)
    return dict(totals)


def mrr_trend(today: date, months: int = 12) -> list[tuple[date, dict[str, Decimal]]]:
    """MRR on the first day of each of the last ``months`` months, and today."""
    points = [(first, mrr_on(first)) for first in month_starts(today, months)]
    return [*points, (today, mrr_on(today))] if points[-1][0] != today else points


def usage_revenue_by_month(today: date, months: int = 12) -> dict[str, dict[date, Decimal]]:
    """{currency: {month: usage revenue}} for the last ``months`` months."""
    first = month_starts(today, months)[0]
    rows = (
        InvoiceLine.objects.filter(
            invoice__status__in=ISSUED,
            kind__in=[LineKind.USAGE, LineKind.ADJUSTMENT],
            period_start__gte=datetime.combine(first, datetime.min.time(), tzinfo=UTC),
        )
        .annotate(month=TruncMonth("period_start", tzinfo=UTC))
        .values("currency", "month")
        .annotate(total=Sum("amount"))
        .order_by("currency", "month")
    )
    out: dict[str, dict[date, Decimal]] = defaultdict(dict)
    for row in rows:
        out[row["currency"]][row["month"].date()] = amount_of(row["total"])
    return dict(out)


def _revenue_by_customer(start: datetime, end: datetime) -> dict[tuple[str, int], Decimal]:
    rows = (
        Invoice.objects.filter(status__in=ISSUED, period_start__gte=start, period_start__lt=end)
        .values("currency", "customer_id")
        .annotate(total=Sum("total"))
    )
    return {(r["currency"], r["customer_id"]): amount_of(r["total"]) for r in rows}


@dataclass(frozen=True)
class Retention:
    currency: str
    customers: int  # customers with revenue in the base year
    base: Decimal  # their revenue in the base year
    current: Decimal  # their revenue in the last 12 months

    @property
    def nrr(self) -> Decimal | None:
        return None if not self.base else (self.current / self.base * 100).quantize(Decimal("0.1"))


def net_revenue_retention(now: datetime) -> list[Retention]:
    year = timedelta(days=365)
    base = _revenue_by_customer(now - 2 * year, now - year)
    current = _revenue_by_customer(now - year, now)
    out: dict[str, Retention] = {}
    for (currency, customer_id), amount in sorted(base.items()):
        prev = out.get(currency, Retention(currency, 0, ZERO, ZERO))
        out[currency] = Retention(
            currency,
            prev.customers + 1,
            prev.base + amount,
            prev.current + current.get((currency, customer_id), ZERO),
        )
    return [out[c] for c in sorted(out)]


def top_customers(now: datetime, limit: int = 10) -> dict[str, list[tuple[Customer, Decimal]]]:
    """{currency: [(customer, revenue of the last 12 months)]}, largest first."""
    revenue = _revenue_by_customer(now - timedelta(days=365), now)
    customers = Customer.objects.in_bulk({pk for _, pk in revenue})
    out: dict[str, list[tuple[Customer, Decimal]]] = defaultdict(list)
    for (currency, pk), amount in sorted(revenue.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(out[currency]) < limit:
            out[currency].append((customers[pk], amount))
    return dict(out)


AGING_BUCKETS = ("not due", "1-30 days", "31-60 days", "61-90 days", "over 90 days")


def _bucket(days_late: int) -> str:
    if days_late <= 0:
        return AGING_BUCKETS[0]
    if days_late <= 30:
        return AGING_BUCKETS[1]
    if days_late <= 60:
        return AGING_BUCKETS[2]
    return AGING_BUCKETS[3] if days_late <= 90 else AGING_BUCKETS[4]


def ar_aging(now: datetime) -> dict[str, dict[str, Decimal]]:
    """{currency: {bucket: amount due}}: open invoices' totals less the credit notes that
    reduce the amount due, by days past their due date."""
    open_invoices = Invoice.objects.filter(status__in=["finalized", "uncollectible"])
    reduced = dict(
        CreditNote.objects.filter(
            invoice__in=open_invoices, outcome=CreditNoteOutcome.REDUCE_AMOUNT_DUE
        )
        .values("invoice_id")
        .annotate(s=Sum("total"))
        .values_list("invoice_id", "s")
    )
    out: dict[str, dict[str, Decimal]] = {}
    for invoice in open_invoices.only("id", "currency", "total", "due_at", "issued_at"):
        due = amount_of(invoice.total) - amount_of(reduced.get(invoice.pk) or ZERO)
        if due <= 0:
            continue
        due_at = invoice.due_at or invoice.issued_at or now
        buckets = out.setdefault(invoice.currency, dict.fromkeys(AGING_BUCKETS, ZERO))
        buckets[_bucket((now - due_at).days)] += due
    return dict(sorted(out.items()))
