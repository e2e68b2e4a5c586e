"""Hand-worked recognition cases (docs/revenue-recognition.md), each with its journal lines and
the month-close figures. Amounts were worked out by hand; the comments show the arithmetic."""

from __future__ import annotations

from datetime import date

import pytest

from invoicing.models import CreditEntry
from invoicing.services.contracts import commit_create
from invoicing.services.credits import credit_draw, credit_expire
from invoicing.services.invoices import invoice_mark_paid
from revenue.models import Account, JournalEntry, RecognitionSchedule
from revenue.selectors import Month, month_close
from revenue.services.recognition import post_pending
from tests.revenue.builders import (
    D,
    at,
    balance,
    contract_for,
    credit_note,
    invoice_with,
    journal,
    lost_dispute,
    payment,
    refund,
)

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

    close = month_close(Month.parse("2026-01"))["currencies"]["USD"]
    assert close["deferred_revenue"] == {
        "opening": "0.00",
        "billed": "1200.00",
        "recognized": "55.89",
        "closing": "1144.11",
    }
    assert close["recognized_revenue"]["by_charge"] == {"platform": "55.89"}
    assert close["billed_vs_collected"]["billed"] == "1200.00"
    assert close["billed_vs_collected"]["collected"] == "1200.00"
    assert close["accounts_receivable"] == {"opening": "0.00", "closing": "0.00"}
    assert close["ties_to_invoices"]["ok"] is True


def entry(key: str) -> list[tuple[str, str, str, str]]:
    return journal(JournalEntry.objects.get(source_key=key))


def close_of(month: str) -> dict:
    return month_close(Month.parse(month))["currencies"]["USD"]


def test_prepaid_commit_drawn_over_three_months_then_expiring_with_breakage() -> None:
    contract = contract_for()
    commit = commit_create(
        contract=contract,
        kind="prepaid",
        amount="3000.00",
        effective_from=date(2026, 1, 1),
        effective_to=date(2026, 4, 1),
    )
    grant = commit.credit_grant
    usage = {1: "800.00", 2: "900.00", 3: "700.00"}
    invoices = []
    for month, amount in usage.items():
        lines = [
            {"kind": "usage", "amount": amount, "charge_key": "api_calls"},
            {"kind": "credit", "amount": f"-{amount}", "credit_grant": grant},
        ]
        if month == 1:
            lines.insert(
                0, {"kind": "commit", "amount": "3000.00", "details": {"commit_id": commit.pk}}
            )
        invoice = invoice_with(
            contract,
            lines,
            issued=at(2026, month + 1, 1),
            start=date(2026, month, 1),
            end=date(2026, month + 1, 1),
        )
        credit_draw(invoice=invoice, draws=[(grant.pk, D(amount))])
        invoices.append(invoice)
    payment(invoices[0], "3000.00", at(2026, 2, 3))
    credit_expire(now=at(2026, 4, 1, 0))
    post_pending(today=date(2026, 4, 30))

    commit_line = invoices[0].lines.get(kind="commit")
    jan_usage, jan_credit = (
        invoices[0].lines.get(kind="usage"),
        invoices[0].lines.get(kind="credit"),
    )
    assert entry(f"invoice:{invoices[0].pk}") == [
        ("deferred_revenue", "api_calls", "0.00", "800.00"),
        ("deferred_revenue", "commit", "0.00", "3000.00"),
        ("deferred_revenue", "credit", "800.00", "0.00"),
        ("receivable", "", "3000.00", "0.00"),
    ]
    # January's usage is revenue; the credit line and the commit's draw cancel out.
    january = JournalEntry.objects.filter(source_type="recognition", date=date(2026, 1, 31))
    assert sorted(line for e in january for line in journal(e)) == [
        ("deferred_revenue", "api_calls", "800.00", "0.00"),
        ("deferred_revenue", "credit:prepaid", "0.00", "800.00"),
        ("deferred_revenue", "credit:prepaid", "800.00", "0.00"),
        ("revenue", "api_calls", "0.00", "800.00"),
        ("revenue", "credit:prepaid", "0.00", "800.00"),
        ("revenue", "credit:prepaid", "800.00", "0.00"),
    ]
    expiry = CreditEntry.objects.get(grant=grant, kind="expiry")
    assert D(expiry.amount.amount) == D("-600.00")  # 3000 - 800 - 900 - 700
    assert entry(f"grant_expiry:{expiry.pk}") == [
        ("breakage", "breakage", "0.00", "600.00"),
        ("deferred_revenue", "breakage", "600.00", "0.00"),
    ]
    assert JournalEntry.objects.get(source_key=f"grant_expiry:{expiry.pk}").date == date(
        2026, 3, 31
    )
    for line in (commit_line, jan_usage, jan_credit):
        assert balance(Account.DEFERRED_REVENUE, invoice_line=line) == D("0.00")
    assert balance(Account.REVENUE, invoice_line=commit_line) == D("2400.00")
    assert balance(Account.BREAKAGE, invoice_line=commit_line) == D("600.00")

    # Usage billed in arrears is revenue of the month consumed: deferred dips below zero
    # (unbilled revenue) until the invoice comes.
    assert close_of("2026-01")["deferred_revenue"] == {
        "opening": "0.00",
        "billed": "0.00",
        "recognized": "800.00",
        "closing": "-800.00",
    }
    assert close_of("2026-02")["deferred_revenue"] == {
        "opening": "-800.00",
        "billed": "3000.00",
        "recognized": "900.00",
        "closing": "1300.00",
    }
    march = close_of("2026-03")
    assert march["deferred_revenue"] == {
        "opening": "1300.00",
        "billed": "0.00",
        "recognized": "1300.00",
        "closing": "0.00",
    }
    assert march["recognized_revenue"]["revenue"] == "700.00"
    assert march["recognized_revenue"]["breakage"] == "600.00"
    assert march["recognized_revenue"]["by_charge"] == {"api_calls": "700.00"}
    assert close_of("2026-04")["deferred_revenue"]["closing"] == "0.00"
    assert balance(Account.REVENUE) + balance(Account.BREAKAGE) == balance(Account.CASH)


def test_usage_with_a_credit_note_next_month() -> None:
    contract = contract_for()
    invoice = invoice_with(
        contract,
        [{"kind": "usage", "amount": "500.00", "charge_key": "api_calls"}],
        issued=at(2026, 2, 1),
        start=date(2026, 1, 1),
        end=date(2026, 2, 1),
    )
    line = invoice.lines.get()
    note = credit_note(invoice, at(2026, 2, 10), {line.pk: "100.00"}, "reduce_amount_due")
    # The job runs once, after the note: the result is the same as running it daily.
    post_pending(today=date(2026, 2, 28))

    assert entry(f"credit_note:{note.pk}") == [
        ("receivable", "", "0.00", "100.00"),
        ("revenue", "api_calls", "100.00", "0.00"),
    ]
    january, february = close_of("2026-01"), close_of("2026-02")
    assert january["recognized_revenue"]["by_charge"] == {"api_calls": "500.00"}
    assert january["deferred_revenue"]["closing"] == "-500.00"
    assert february["recognized_revenue"]["by_charge"] == {"api_calls": "-100.00"}
    assert february["deferred_revenue"] == {
        "opening": "-500.00",
        "billed": "500.00",
        "recognized": "0.00",
        "closing": "0.00",
    }
    assert february["billed_vs_collected"]["invoiced"] == "500.00"
    assert february["billed_vs_collected"]["credited"] == "100.00"
    assert february["billed_vs_collected"]["billed"] == "400.00"
    assert february["accounts_receivable"]["closing"] == "400.00"
    assert february["ties_to_invoices"] == {
        "journal_billed": "400.00",
        "invoices_billed": "400.00",
        "difference": "0.00",
        "unposted_sources": 0,
        "ok": True,
    }


def test_credit_note_on_a_fixed_fee_takes_back_the_unrecognized_months_first() -> None:
    contract = contract_for()
    invoice = invoice_with(
        contract,
        [{"kind": "fixed", "amount": "1200.00", "charge_key": "platform"}],
        issued=at(2026, 1, 15),
        start=date(2026, 1, 15),
        end=date(2027, 1, 15),
    )
    line = invoice.lines.get()
    note = credit_note(invoice, at(2026, 12, 10), {line.pk: "200.00"}, "reduce_amount_due")
    post_pending(today=date(2027, 1, 31))
    # Not yet recognized on Dec 10: Dec 31 (101.92) and Jan 14 2027 (46.02) = 147.94; the
    # other 52.06 reverses revenue already recognized.
    assert entry(f"credit_note:{note.pk}") == [
        ("deferred_revenue", "platform", "147.94", "0.00"),
        ("receivable", "", "0.00", "200.00"),
        ("revenue", "platform", "52.06", "0.00"),
    ]
    assert balance(Account.REVENUE, invoice_line=line) == D("1000.00")
    assert balance(Account.DEFERRED_REVENUE, invoice_line=line) == D("0.00")
    assert close_of("2026-12")["recognized_revenue"]["by_charge"] == {"platform": "-52.06"}


def test_refund_of_a_recognized_invoice() -> None:
    contract = contract_for()
    invoice = invoice_with(
        contract,
        [{"kind": "fixed", "amount": "100.00", "charge_key": "platform"}],
        issued=at(2026, 2, 1),
        start=date(2026, 1, 1),
        end=date(2026, 2, 1),
    )
    pay = payment(invoice, "100.00", at(2026, 2, 5))
    invoice = invoice_mark_paid(invoice=invoice, now=at(2026, 2, 5))
    note = credit_note(invoice, at(2026, 3, 10), {invoice.lines.get().pk: "100.00"}, "refund")
    back = refund(pay, "100.00", at(2026, 3, 12), note)
    post_pending(today=date(2026, 3, 31))

    assert entry(f"credit_note:{note.pk}") == [
        ("refunds", "", "0.00", "100.00"),
        ("revenue", "platform", "100.00", "0.00"),
    ]
    assert entry(f"refund:{back.pk}") == [
        ("cash", "", "0.00", "100.00"),
        ("refunds", "", "100.00", "0.00"),
    ]
    march = close_of("2026-03")
    assert march["recognized_revenue"]["by_charge"] == {"platform": "-100.00"}
    assert march["billed_vs_collected"]["credited"] == "100.00"
    assert march["billed_vs_collected"]["refunded"] == "100.00"
    assert march["billed_vs_collected"]["billed"] == "-100.00"
    assert march["ties_to_invoices"]["ok"] is True
    for account in (Account.REVENUE, Account.CASH, Account.REFUNDS, Account.RECEIVABLE):
        assert balance(account) == D("0.00")


def test_a_lost_dispute() -> None:
    contract = contract_for()
    invoice = invoice_with(
        contract,
        [{"kind": "usage", "amount": "250.00", "charge_key": "api_calls"}],
        issued=at(2026, 2, 1),
        start=date(2026, 1, 1),
        end=date(2026, 2, 1),
    )
    pay = payment(invoice, "250.00", at(2026, 2, 3))
    dispute = lost_dispute(pay, "250.00", at(2026, 3, 20))
    post_pending(today=date(2026, 3, 31))

    # The amount and Stripe's 15.00 fee (settings.DISPUTE_FEES) are lost; revenue stays.
    assert entry(f"dispute:{dispute.pk}") == [
        ("cash", "", "0.00", "265.00"),
        ("dispute_losses", "dispute", "265.00", "0.00"),
    ]
    march = close_of("2026-03")
    assert march["billed_vs_collected"]["dispute_losses"] == "265.00"
    assert march["recognized_revenue"]["revenue"] == "0.00"
    assert balance(Account.REVENUE) == D("250.00")
    assert balance(Account.CASH) == D("-15.00")
