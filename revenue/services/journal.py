"""Writing journal entries: one balanced entry per source key, at most once.

``entry_post`` is the only function that creates ``JournalEntry``/``JournalLine`` rows. It runs
in the caller's transaction, takes a transaction-level advisory lock on the source key (two
workers posting the same source queue up; the second sees the entry and returns it), refuses an
entry whose signed amounts do not sum to zero, and writes each amount as a debit (positive) or
a credit (negative). The database checks the balance again at commit (migration 0001).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction

from billingsite.errors import AppError
from billingsite.money import sum_lines
from revenue.models import JournalEntry, JournalLine


class UnbalancedEntryError(AppError):
    """A posting whose debits and credits differ; a bug in a posting rule, never user input."""

    def __init__(self, key: str, difference: Decimal):
        super().__init__(
            "unbalanced_entry",
            f"Journal entry {key} does not balance (off by {difference}).",
            details={"source_key": key},
        )


@dataclass(frozen=True)
class Leg:
    """One signed amount of a posting: positive debits ``account``, negative credits it."""

    account: str
    amount: Decimal
    customer_id: int | None = None
    charge_key: str = ""
    invoice_line_id: int | None = None
    credit_grant_id: int | None = None


def book_date(moment: datetime) -> date:
    """The calendar day of ``moment`` in the book's time zone (``REVENUE_TIMEZONE``)."""
    return moment.astimezone(ZoneInfo(settings.REVENUE_TIMEZONE)).date()


def _lock(key: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"revenue:{key}"])


def entry_post(
    *,
    key: str,
    source_type: str,
    source_id: int,
    on: date,
    currency: str,
    legs: list[Leg],
    memo: str = "",
) -> tuple[JournalEntry, bool]:
    """Post the balanced entry for ``key`` unless it exists; returns (entry, created).

    Zero legs are dropped; legs on the same account and tags are kept apart (each is a fact)."""
    with transaction.atomic():
        _lock(key)
        existing = JournalEntry.objects.filter(source_key=key).first()
        if existing is not None:
            return existing, False
        legs = [leg for leg in legs if leg.amount != 0]
        difference = sum_lines((leg.amount for leg in legs), currency)
        if difference != 0:
            raise UnbalancedEntryError(key, difference)
        entry = JournalEntry.objects.create(
            date=on,
            currency=currency,
            source_type=source_type,
            source_id=source_id,
            source_key=key,
            memo=memo[:255],
        )
        JournalLine.objects.bulk_create(
            JournalLine(
                entry=entry,
                account=leg.account,
                currency=currency,
                debit=max(leg.amount, Decimal(0)),
                credit=max(-leg.amount, Decimal(0)),
                charge_key=leg.charge_key[:64],
                customer_id=leg.customer_id,
                invoice_line_id=leg.invoice_line_id,
                credit_grant_id=leg.credit_grant_id,
            )
            for leg in legs
        )
        return entry, True
