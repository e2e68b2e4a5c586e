"""Hand-worked recognition cases (docs/revenue-recognition.md), each with its journal lines and
the month-close figures. Amounts were worked out by hand; the comments show the arithmetic."""

from __future__ import annotations

from datetime import date

import pytest

from revenue.models import Account, JournalEntry, RecognitionSchedule
from revenue.services.recognition import post_pending
from tests.revenue.builders import D, at, balance, contract_for, invoice_with, journal, payment

pytestmark = pytest.mark.django_db

# 1200.00 over 2026-01-15 .. 2027-01-14 (365 days), in cents: 120000 * days / 365.
# Floors: Jan(17) 5589 r.04, Feb(28) 9205 r.48, 31-day months 10191 r.78, 30-day months 9863
# r.01, Jan 2027(14) 4602 r.74; floors sum to 119994, so the six largest remainders (the six
# 31-day months Mar..Dec, .78 each) get one cent more.
ANNUAL_SCHEDULE = [
    (date(2026, 1, 31), "55.89"),
    (date(2026, 2, 28), "92.05"),
    (date(2026, 3, 31), "101.92"),
    (date(2026, 4, 30), "98.63"),
    (date(2026, 5, 31), "101.92"),
    (date(2026, 6, 30), "98.63"),
    (date(2026, 7, 31), "101.92"),
    (date(2026, 8, 31), "101.92"),
    (date(2026, 9, 30), "98.63"),
    (date(2026, 10, 31), "101.92"),
    (date(2026, 11, 30), "98.63"),
    (date(2026, 12, 31), "101.92"),
    (date(2027, 1, 14), "46.02"),
]


def test_annual_prepaid_fee_starting_mid_month() -> None:
    contract = contract_for()
    invoice = invoice_with(
        contract,
        [{"kind": "fixed", "amount": "1200.00", "charge_key": "platform"}],
        issued=at(2026, 1, 15),
        start=date(2026, 1, 15),
        end=date(2027, 1, 15),
    )
    payment(invoice, "1200.00", at(2026, 1, 20))
    post_pending(today=date(2026, 1, 31))

    rows = RecognitionSchedule.objects.filter(invoice_line__invoice=invoice).order_by("on_date")
    assert [(r.on_date, f"{r.amount:.2f}") for r in rows] == ANNUAL_SCHEDULE
    assert sum(D(a) for _, a in ANNUAL_SCHEDULE) == D("1200.00")

    finalized = JournalEntry.objects.get(source_key=f"invoice:{invoice.pk}")
    assert journal(finalized) == [
        ("deferred_revenue", "platform", "0.00", "1200.00"),
        ("receivable", "", "1200.00", "0.00"),
    ]
    january = JournalEntry.objects.get(source_type="recognition", date=date(2026, 1, 31))
    assert journal(january) == [
        ("deferred_revenue", "platform", "55.89", "0.00"),
        ("revenue", "platform", "0.00", "55.89"),
    ]
    assert balance(Account.DEFERRED_REVENUE) == D("1144.11")
    assert balance(Account.REVENUE) == D("55.89")
    assert balance(Account.RECEIVABLE) == D("0.00")
    assert balance(Account.CASH) == D("1200.00")
    # February is not recognized before its last day has come.
    assert RecognitionSchedule.objects.filter(journal_entry__isnull=True).count() == 12
