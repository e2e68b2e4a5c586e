"""The finance dashboard (``/admin/reporting/finance/``): MRR/ARR, usage revenue, NRR, top
customers, AR aging and deferred revenue, per currency, each chart drawn from its own table
(``templates/usage/_chart.html`` + ``static/usage/charts.js``). Finance and Admin only
(permission ``reporting.view_finance_dashboard``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from billingsite.finance import DEFERRED_REVENUE, FinanceTable, finance_section
from invoicing.usage_pages.charts import ChartTable
from invoicing.usage_pages.presenters import money
from reporting.finance import selectors
from reporting.models import ExportCursor

PERMISSION = "reporting.view_finance_dashboard"


@dataclass
class Block:
    key: str
    title: str
    explanation: str
    charts: list[ChartTable] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)
    empty: str = "No data yet."
    label: str = "month"  # what a chart row is (the first column's heading)

    @property
    def items(self) -> list[tuple[str, ChartTable]]:
        """(a unique id, chart) pairs for the template."""
        return [(f"{self.key}-{i}", c) for i, c in enumerate(self.charts, start=1)]


def chart(
    caption: str, currency: str, columns: list[str], rows: list[tuple[str, list[Decimal]]]
) -> ChartTable:
    table = ChartTable(caption=caption, unit=currency, columns=columns)
    for label, values in rows:
        table.rows.append((label, label, [(str(v), money(v, currency)) for v in values]))
    return table


def mrr_block(today: date) -> Block:
    block = Block(
        "mrr",
        "MRR and ARR",
        "Recurring fixed fees of the active contracts, after "
        "rate overrides and before discounts, per month (quarterly / 3, annual / 12). "
        "ARR = 12 x MRR.",
        label="day",
    )
    trend = selectors.mrr_trend(today)
    currencies = sorted({c for _, values in trend for c in values})
    for currency in currencies:
        rows = [(f"{day:%Y-%m-%d}", [values.get(currency, Decimal(0))]) for day, values in trend]
        block.charts.append(chart(f"MRR in {currency}", currency, ["MRR"], rows))
        now = trend[-1][1].get(currency, Decimal(0))
        block.facts.append((f"MRR {currency}", money(now, currency)))
        block.facts.append((f"ARR {currency}", money(now * selectors.TWELVE, currency)))
    return block


def usage_block(today: date) -> Block:
    block = Block(
        "usage",
        "Usage revenue by month",
        "Usage and late-usage adjustment lines of "
        "issued invoices (not voided), by the UTC month their period starts.",
    )
    months = selectors.month_starts(today, 12)
    for currency, by_month in sorted(selectors.usage_revenue_by_month(today).items()):
        rows = [(f"{m:%Y-%m}", [by_month.get(m, Decimal(0))]) for m in months]
        block.charts.append(chart(f"Usage revenue in {currency}", currency, ["Usage"], rows))
    return block


def nrr_block(now: date | None = None) -> Block:
    block = Block(
        "nrr",
        "Net revenue retention (trailing 12 months)",
        "NRR = revenue of the "
        "last 12 months from the customers invoiced in the 12 months before ÷ their "
        "revenue in those 12 months before x 100%. Revenue: totals of issued, not "
        "voided invoices by period start. New customers are in neither side.",
        label="year",
    )
    for r in selectors.net_revenue_retention(timezone.now()):
        rows = [("12-24 months ago", [r.base]), ("last 12 months", [r.current])]
        block.charts.append(
            chart(
                f"Revenue of {r.customers} retained customers, {r.currency}",
                r.currency,
                ["Revenue"],
                rows,
            )
        )
        block.facts.append((f"NRR {r.currency}", "—" if r.nrr is None else f"{r.nrr}%"))
    return block


def top_block() -> Block:
    block = Block(
        "top",
        "Top customers (last 12 months)",
        "Totals of issued, not voided invoices whose period started in the last 12 months.",
        label="customer",
    )
    for currency, rows in sorted(selectors.top_customers(timezone.now()).items()):
        data = [(f"{c.name} ({c.external_id})", [amount]) for c, amount in rows]
        block.charts.append(chart(f"Top customers in {currency}", currency, ["Revenue"], data))
    return block


def aging_block() -> Block:
    block = Block(
        "aging",
        "Accounts receivable aging",
        "Amount still due of finalized and "
        "uncollectible invoices (total less credit notes reducing it), by days past "
        "the due date.",
        empty="Nothing is due.",
        label="age",
    )
    for currency, buckets in selectors.ar_aging(timezone.now()).items():
        rows = [(name, [amount]) for name, amount in buckets.items()]
        block.charts.append(chart(f"Receivables in {currency}", currency, ["Due"], rows))
    return block


def _from_tables(tables: list[FinanceTable]) -> list[ChartTable]:
    out = []
    for t in tables:
        rows = [(label, [Decimal(v) for v in values]) for label, values in t.rows]
        out.append(chart(t.caption, t.currency, t.columns, rows))
    return out


def deferred_block(today: date) -> Block:
    section = finance_section(DEFERRED_REVENUE)
    if section is None:
        return Block(
            "deferred",
            "Deferred revenue",
            "",
            empty="Deferred revenue comes from "
            "the revenue-recognition app, which is not installed: no figures are "
            "shown rather than estimated ones.",
        )
    return Block(
        "deferred", section.title, section.explanation, charts=_from_tables(section.func(today))
    )


def finance_dashboard(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    today = timezone.now().date()
    blocks = [
        mrr_block(today),
        usage_block(today),
        nrr_block(),
        top_block(),
        aging_block(),
        deferred_block(today),
    ]
    return TemplateResponse(
        request,
        "admin/reporting/finance_dashboard.html",
        {
            **admin.site.each_context(request),
            "title": "Finance dashboard",
            "blocks": blocks,
            "today": today,
            "opts": ExportCursor._meta,
        },
    )
