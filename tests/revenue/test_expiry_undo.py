"""Breakage is reversed when an expiry is undone: a grant expired (breakage booked), then the
invoice of a period that ended before the expiry is finalized and draws what had expired
(``invoicing.services.credits._expiry_undo``). Only what finally went unused is breakage."""

from __future__ import annotations

from datetime import date

import pytest
import time_machine

from invoicing.models import CreditEntry
from invoicing.services.contracts import commit_create
from invoicing.services.credits import credit_draw, credit_expire
from revenue.models import Account, JournalEntry
from revenue.selectors import Month, month_close
from revenue.services.recognition import post_for, post_pending
from tests.revenue.builders import D, at, balance, contract_for, invoice_with, journal

pytestmark = pytest.mark.django_db


def monthly_invoice(contract, grant, month: int, amount: str, commit=None):
    lines = [
        {"kind": "usage", "amount": amount, "charge_key": "api_calls"},
        {"kind": "credit", "amount": f"-{amount}", "credit_grant": grant},
    ]
    if commit is not None:
        lines.insert(
            0, {"kind": "commit", "amount": "3000.00", "details": {"commit_id": commit.pk}}
        )
    return invoice_with(
        contract,
        lines,
        issued=at(2026, month + 1, 3),
        start=date(2026, month, 1),
        end=date(2026, month + 1, 1),
    )


def test_an_undone_expiry_reverses_that_much_breakage():
    contract = contract_for()
    commit = commit_create(
        contract=contract,
        kind="prepaid",
        amount="3000.00",
        effective_from=date(2026, 1, 1),
        effective_to=date(2026, 4, 2),
    )
    grant = commit.credit_grant
    january = monthly_invoice(contract, grant, 1, "800.00", commit)
    credit_draw(invoice=january, draws=[(grant.pk, D("800.00"))])
    february = monthly_invoice(contract, grant, 2, "900.00")
    credit_draw(invoice=february, draws=[(grant.pk, D("900.00"))])
    credit_expire(now=at(2026, 4, 2, 0))  # 1300.00 expires before March is invoiced
    expired = CreditEntry.objects.get(grant=grant, kind="expiry")
    post_pending(today=date(2026, 4, 2))
    assert balance(Account.BREAKAGE) == D("1300.00")

    with time_machine.travel(at(2026, 4, 3), tick=False):
        march = monthly_invoice(contract, grant, 3, "700.00")
        credit_draw(invoice=march, draws=[(grant.pk, D("700.00"))])
    undo = CreditEntry.objects.get(grant=grant, kind="expiry", amount__gt=0)
    assert D(undo.amount.amount) == D("700.00")
    post_pending(today=date(2026, 4, 30))
    assert post_for(undo) is not None  # posted once: asking again returns the same entry

    entry = JournalEntry.objects.get(source_key=f"grant_expiry:{undo.pk}")
    assert entry.date == date(2026, 4, 3)
    assert journal(entry) == [
        ("breakage", "breakage", "700.00", "0.00"),
        ("deferred_revenue", "breakage", "0.00", "700.00"),
    ]
    assert JournalEntry.objects.filter(source_key__startswith="grant_expiry:").count() == 2
    assert expired.pk != undo.pk
    commit_line = january.lines.get(kind="commit")
    assert balance(Account.BREAKAGE) == D("600.00")  # 3000 - 800 - 900 - 700
    assert balance(Account.DEFERRED_REVENUE, invoice_line=commit_line) == D("0.00")
    assert balance(Account.REVENUE, invoice_line=commit_line) == D("2400.00")
    assert balance(Account.DEFERRED_REVENUE) == D("0.00")
    april = month_close(Month.parse("2026-04"))["currencies"]["USD"]
    assert april["recognized_revenue"]["breakage"] == "600.00"  # 1300 on Apr 1, -700 on Apr 3
    assert april["ties_to_invoices"]["ok"] is True


def test_a_void_after_the_expiry_expires_what_it_gives_back():
    """What a void returns to a grant already expired becomes breakage, not a balance that
    no invoice can draw and that stays a liability for good."""
    from invoicing.selectors.credits import grant_balance
    from invoicing.services.invoices import invoice_void

    contract = contract_for()
    commit = commit_create(
        contract=contract,
        kind="prepaid",
        amount="3000.00",
        effective_from=date(2026, 1, 1),
        effective_to=date(2026, 4, 2),
    )
    grant = commit.credit_grant
    january = monthly_invoice(contract, grant, 1, "800.00", commit)
    credit_draw(invoice=january, draws=[(grant.pk, D("800.00"))])
    february = monthly_invoice(contract, grant, 2, "900.00")
    credit_draw(invoice=february, draws=[(grant.pk, D("900.00"))])
    credit_expire(now=at(2026, 4, 2, 0))
    post_pending(today=date(2026, 4, 2))
    assert balance(Account.BREAKAGE) == D("1300.00")

    invoice_void(invoice=february, reason="billed in error", now=at(2026, 4, 10))
    assert grant_balance(grant.pk) == D("0.00")
    again = CreditEntry.objects.get(grant=grant, kind="expiry", note__startswith="Expired again")
    assert D(again.amount.amount) == D("-900.00")
    assert again.invoice_id is None
    post_pending(today=date(2026, 4, 30))
    assert balance(Account.BREAKAGE) == D("2200.00")  # 3000 - 800: February's draw went unused
    assert balance(Account.DEFERRED_REVENUE) == D("0.00")
    april = month_close(Month.parse("2026-04"))["currencies"]["USD"]
    assert april["ties_to_invoices"]["ok"] is True
