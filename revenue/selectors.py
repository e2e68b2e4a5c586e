"""Reads of the journal: the month close, per currency (docs/revenue-recognition.md).

The close of a month is computed from the journal alone (entries dated in the book's calendar,
``REVENUE_TIMEZONE``), then tied to the invoicing tables: billed in the journal (invoice totals
less credit notes) must equal the finalized invoices issued in the month less the credit notes
created in it, to the cent; the report says "ok" or shows the difference, and counts sources
of the month that the journal has not posted yet.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Case, CharField, F, Q, QuerySet, Sum, Value, When

from billingsite.errors import AppError
from billingsite.money import format_amount, round_line
from invoicing.models import CreditNote, Invoice
from revenue.models import CREDIT_NORMAL, Account, JournalEntry, JournalLine, SourceType

ZERO = Decimal(0)
RECOGNIZING = (SourceType.RECOGNITION, SourceType.GRANT_EXPIRY)
ISSUED = ("finalized", "paid", "uncollectible", "void")


@dataclass(frozen=True)
class Month:
    start: date
    end: date  # first day of the next month

    @classmethod
    def parse(cls, text: str) -> Month:
        """``YYYY-MM`` (years 2000-2999), or an ``AppError`` the caller can show."""
        match = re.fullmatch(r"(2\d{3})-(0[1-9]|1[0-2])", text or "")
        if match is None:
            raise AppError(
                "invalid_month", "month must be YYYY-MM.", details={"month": "expected YYYY-MM"}
            )
        first = date(int(match[1]), int(match[2]), 1)
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        return cls(first, following)

    @property
    def label(self) -> str:
        return self.start.strftime("%Y-%m")

    def bounds(self) -> tuple[datetime, datetime]:
        """The month as a half-open range of instants in the book's time zone."""
        zone = ZoneInfo(settings.REVENUE_TIMEZONE)
        return (
            datetime.combine(self.start, time(), zone),
            datetime.combine(self.end, time(), zone),
        )


def _money(amount: Decimal, currency: str) -> str:
    return format_amount(round_line(amount, currency), currency)


class _Movements:
    """Debits and credits per (account, before/in the month, source type) of one currency."""

    def __init__(self, currency: str, month: Month):
        self.sums: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
        rows = (
            JournalLine.objects.filter(currency=currency, entry__date__lt=month.end)
            .annotate(
                when=Case(
                    When(entry__date__lt=month.start, then=Value("before")),
                    default=Value("in"),
                    output_field=CharField(),
                )
            )
            .values("account", "when", "entry__source_type")
            .annotate(debit=Sum("debit"), credit=Sum("credit"))
        )
        for row in rows:
            key = (row["account"], row["when"], row["entry__source_type"])
            self.sums[key] += row["debit"] - row["credit"]

    def net(self, account: str, when: str | None = None, sources: Any = None) -> Decimal:
        """Natural-side movement (credit-normal accounts count credits as positive)."""
        total = sum(
            (
                amount
                for (acc, w, source), amount in self.sums.items()
                if acc == account
                and (when is None or w == when)
                and (sources is None or source in sources)
            ),
            ZERO,
        )
        return -total if account in CREDIT_NORMAL else total


def _grouped(lines: QuerySet[JournalLine], field: str) -> dict[str, Decimal]:
    result: dict[str, Decimal] = {}
    for row in lines.values(field).annotate(debit=Sum("debit"), credit=Sum("credit")):
        amount = row["credit"] - row["debit"]
        if amount:
            result[str(row[field] or "")] = amount
    return dict(sorted(result.items()))


def _invoices_billed(currency: str, month: Month) -> tuple[Decimal, int]:
    start, end = month.bounds()
    invoices = Invoice.objects.filter(
        currency=currency, status__in=ISSUED, issued_at__gte=start, issued_at__lt=end
    )
    notes = CreditNote.objects.filter(currency=currency, created_at__gte=start, created_at__lt=end)
    billed = (invoices.aggregate(t=Sum("total"))["t"] or ZERO) - (
        notes.aggregate(t=Sum("total"))["t"] or ZERO
    )
    posted = JournalEntry.objects.values("source_key")
    unposted = (
        invoices.exclude(
            pk__in=posted.filter(source_type=SourceType.INVOICE).values("source_id")
        ).count()
        + notes.exclude(
            pk__in=posted.filter(source_type=SourceType.CREDIT_NOTE).values("source_id")
        ).count()
    )
    voided_billed, voided_unposted = _voided(currency, month)
    return billed - voided_billed, unposted + voided_unposted


def _voided(currency: str, month: Month) -> tuple[Decimal, int]:
    """What invoices voided in the month still owed when voided (total less credit notes),
    and how many of them have no void entry yet."""
    start, end = month.bounds()
    voided = Invoice.objects.filter(
        currency=currency,
        status="void",
        issued_at__isnull=False,
        voided_at__gte=start,
        voided_at__lt=end,
    )
    totals = voided.aggregate(t=Sum("total"))["t"] or ZERO
    notes = CreditNote.objects.filter(invoice__in=voided).aggregate(t=Sum("total"))["t"] or ZERO
    posted = JournalEntry.objects.filter(source_type=SourceType.INVOICE_VOID).values("source_id")
    return totals - notes, voided.exclude(pk__in=posted).count()


def _currency_close(currency: str, month: Month) -> dict[str, Any]:
    moves = _Movements(currency, month)
    deferred = Account.DEFERRED_REVENUE
    opening = moves.net(deferred, "before")
    recognized = -moves.net(deferred, "in", RECOGNIZING)
    billed = moves.net(deferred, "in") + recognized
    in_month = JournalLine.objects.filter(
        currency=currency, entry__date__gte=month.start, entry__date__lt=month.end
    )
    revenue = in_month.filter(account=Account.REVENUE)
    invoiced = moves.net(Account.RECEIVABLE, "in", (SourceType.INVOICE,))
    credited = _credited(in_month)
    collected = moves.net(Account.CASH, "in", (SourceType.PAYMENT,))
    voided = -moves.net(Account.RECEIVABLE, "in", (SourceType.INVOICE_VOID,))
    journal_billed = invoiced - credited - voided
    tables_billed, unposted = _invoices_billed(currency, month)
    difference = journal_billed - tables_billed
    m = lambda amount: _money(amount, currency)  # noqa: E731
    return {
        "deferred_revenue": {
            "opening": m(opening),
            "billed": m(billed),
            "recognized": m(recognized),
            "closing": m(opening + billed - recognized),
        },
        "recognized_revenue": {
            "revenue": m(moves.net(Account.REVENUE, "in")),
            "breakage": m(moves.net(Account.BREAKAGE, "in")),
            "by_charge": {k: m(v) for k, v in _grouped(revenue, "charge_key").items()},
            "by_customer": {k: m(v) for k, v in _grouped(revenue, "customer__external_id").items()},
        },
        "billed_vs_collected": {
            "invoiced": m(invoiced),
            "credited": m(credited),
            "voided": m(voided),
            "billed": m(journal_billed),
            "collected": m(collected),
            "refunded": m(-moves.net(Account.CASH, "in", (SourceType.REFUND,))),
            "dispute_losses": m(moves.net(Account.DISPUTE_LOSSES, "in")),
        },
        "accounts_receivable": {
            "opening": m(moves.net(Account.RECEIVABLE, "before")),
            "closing": m(moves.net(Account.RECEIVABLE)),
        },
        "ties_to_invoices": {
            "journal_billed": m(journal_billed),
            "invoices_billed": m(tables_billed),
            "difference": m(difference),
            "unposted_sources": unposted,
            "ok": difference == 0 and unposted == 0,
        },
    }


def _credited(in_month: QuerySet[JournalLine]) -> Decimal:
    """Credit note totals posted in the month: the counter side of each credit note entry."""
    notes = in_month.filter(entry__source_type=SourceType.CREDIT_NOTE).filter(
        Q(account=Account.RECEIVABLE) | Q(account=Account.REFUNDS) | Q(credit_grant__isnull=False),
        credit__gt=0,
    )
    return notes.aggregate(t=Sum(F("credit")))["t"] or ZERO


def month_close_currencies(month: Month) -> list[str]:
    start, end = month.bounds()
    journal = JournalEntry.objects.filter(date__lt=month.end).values_list("currency", flat=True)
    issued = Invoice.objects.filter(
        status__in=ISSUED, issued_at__gte=start, issued_at__lt=end
    ).values_list("currency", flat=True)
    return sorted(set(journal.distinct()) | set(issued.distinct()))


def month_close(month: Month) -> dict[str, Any]:
    """The close of ``month`` for every currency with journal entries up to its end (or
    invoices issued in it). Deferred revenue rolls forward: opening + billed - recognized =
    closing, where billed is every other movement of deferred revenue (invoices, credit
    notes) and recognized is revenue and breakage released from it."""
    return {
        "month": month.label,
        "timezone": settings.REVENUE_TIMEZONE,
        "currencies": {c: _currency_close(c, month) for c in month_close_currencies(month)},
    }
