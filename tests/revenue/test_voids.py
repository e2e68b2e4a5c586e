"""A voided invoice is reversed in the journal: every entry balances, and the invoice's
deferred and recognized revenue (and receivable) return to zero, whenever the job runs."""

from __future__ import annotations

from datetime import date

import pytest
from django.db.models import Sum

from invoicing.services.invoices import invoice_void
from revenue.models import Account, JournalEntry, JournalLine, RecognitionSchedule
from revenue.selectors import Month, month_close
from revenue.services.recognition import post_pending
from tests.revenue.builders import D, at, balance, contract_for, credit_note, invoice_with, journal

pytestmark = pytest.mark.django_db


def assert_every_entry_balances() -> None:
    for entry in JournalEntry.objects.all():
        sums = entry.lines.aggregate(d=Sum("debit"), c=Sum("credit"))
        assert sums["d"] == sums["c"], entry.source_key


def assert_all_zero() -> None:
    for account in (Account.REVENUE, Account.DEFERRED_REVENUE, Account.RECEIVABLE):
        assert balance(account) == D("0.00"), account
    assert_every_entry_balances()


def annual_invoice():
    contract = contract_for()
    return invoice_with(
        contract,
        [
            {"kind": "fixed", "amount": "1200.00", "charge_key": "platform"},
            {
                "kind": "usage",
                "amount": "300.00",
                "charge_key": "api_calls",
                "start": date(2026, 1, 1),
                "end": date(2026, 2, 1),
            },
            {"kind": "discount", "amount": "-150.00", "charge_key": "welcome"},
        ],
        issued=at(2026, 1, 15),
        start=date(2026, 1, 15),
        end=date(2027, 1, 15),
    )


def test_a_void_after_months_of_recognition_reverses_what_was_recognized_and_deferred():
    invoice = annual_invoice()
    post_pending(today=date(2026, 4, 30))
    assert balance(Account.REVENUE) > 0 and balance(Account.DEFERRED_REVENUE) > 0
    recognized = balance(Account.REVENUE)
    invoice_void(invoice=invoice, reason="sold by mistake", now=at(2026, 5, 10))
    post_pending(today=date(2026, 5, 31))
    void = JournalEntry.objects.get(source_key=f"invoice_void:{invoice.pk}")
    assert void.date == date(2026, 5, 10)
    lines = journal(void)
    assert ("receivable", "", "0.00", "1350.00") in lines  # 1200 + 300 - 150
    revenue_debits = sum(D(dr) - D(cr) for acc, _, dr, cr in lines if acc == "revenue")
    assert revenue_debits == recognized
    assert_all_zero()
    post_pending(today=date(2027, 3, 1))  # the cancelled future rows post to nothing
    assert_all_zero()
    assert not RecognitionSchedule.objects.filter(journal_entry__isnull=True).exists()
    for line in invoice.lines.all():  # deferred + recognized = billed net of the void
        total = RecognitionSchedule.objects.filter(invoice_line=line).aggregate(t=Sum("amount"))
        assert total["t"] == 0, line.kind
    may = month_close(Month.parse("2026-05"))["currencies"]["USD"]
    assert may["billed_vs_collected"]["voided"] == "1350.00"
    assert may["ties_to_invoices"]["ok"] is True
    assert may["accounts_receivable"]["closing"] == "0.00"


def test_a_void_posted_late_is_the_same_as_posted_on_time():
    invoice = annual_invoice()
    invoice_void(invoice=invoice, reason="late job", now=at(2026, 5, 10))
    post_pending(today=date(2026, 9, 30))  # the job first runs months later
    assert_all_zero()
    post_pending(today=date(2027, 3, 1))
    assert_all_zero()
    assert JournalEntry.objects.filter(source_key=f"invoice_void:{invoice.pk}").count() == 1


def test_a_void_after_a_credit_note_reverses_only_what_is_left():
    invoice = annual_invoice()
    fixed = invoice.lines.get(kind="fixed")
    post_pending(today=date(2026, 2, 28))
    credit_note(invoice, at(2026, 3, 10), {fixed.pk: "200.00"}, "reduce_amount_due")
    invoice_void(invoice=invoice, reason="customer left", now=at(2026, 6, 1))
    post_pending(today=date(2027, 3, 1))
    assert_all_zero()
    void = JournalEntry.objects.get(source_key=f"invoice_void:{invoice.pk}")
    assert ("receivable", "", "0.00", "1150.00") in journal(void)
    assert JournalLine.objects.filter(account=Account.TAX_PAYABLE).count() == 0
