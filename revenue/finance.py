"""The deferred-revenue panel of the finance dashboard, from the month close: per currency, the
roll-forward of the last six months (opening + billed - recognized = closing)."""

from __future__ import annotations

from datetime import date

from billingsite.finance import FinanceTable
from revenue.selectors import Month, month_close

MONTHS = 6


def _months_up_to(as_of: date) -> list[Month]:
    year, month = as_of.year, as_of.month
    labels = []
    for _ in range(MONTHS):
        labels.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return [Month.parse(label) for label in reversed(labels)]


def deferred_revenue_tables(as_of: date) -> list[FinanceTable]:
    closes = [month_close(month) for month in _months_up_to(as_of)]
    currencies = sorted({c for close in closes for c in close["currencies"]})
    tables = []
    for currency in currencies:
        rows = []
        for close in closes:
            figures = close["currencies"].get(currency)
            if figures is None:
                continue
            deferred = figures["deferred_revenue"]
            rows.append(
                (
                    close["month"],
                    [deferred[k] for k in ("opening", "billed", "recognized", "closing")],
                )
            )
        tables.append(
            FinanceTable(
                f"Deferred revenue in {currency}",
                currency,
                "Month",
                ["Opening", "Billed", "Recognized", "Closing"],
                rows,
            )
        )
    return tables
