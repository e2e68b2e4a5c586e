"""Tax lines post to tax payable, never to deferred or recognized revenue; a credit note or a
void of the invoice takes the tax back from tax payable."""

from __future__ import annotations

from datetime import date

import pytest

from invoicing.services.invoices import invoice_void
from revenue.models import Account, JournalEntry
from revenue.selectors import Month, month_close
from revenue.services.recognition import post_pending
from tests.revenue.builders import D, at, balance, contract_for, credit_note, invoice_with, journal

pytestmark = pytest.mark.django_db


def taxed_invoice():
    return invoice_with(
        contract_for(),
        [
            {"kind": "fixed", "amount": "100.00", "charge_key": "platform"},
            {"kind": "tax", "amount": "8.25", "charge_key": "tax:us-ca"},
        ],
        issued=at(2026, 3, 1),
        start=date(2026, 3, 1),
        end=date(2026, 4, 1),
    )


def test_tax_is_owed_not_earned():
    invoice = taxed_invoice()
    post_pending(today=date(2026, 4, 30))
    assert journal(JournalEntry.objects.get(source_key=f"invoice:{invoice.pk}")) == [
        ("deferred_revenue", "platform", "0.00", "100.00"),
        ("receivable", "", "108.25", "0.00"),
        ("tax_payable", "tax:us-ca", "0.00", "8.25"),
    ]
    assert balance(Account.TAX_PAYABLE) == D("8.25")
    assert balance(Account.REVENUE) == D("100.00")
    assert balance(Account.DEFERRED_REVENUE) == D("0.00")
    march = month_close(Month.parse("2026-03"))["currencies"]["USD"]
    assert march["recognized_revenue"]["by_charge"] == {"platform": "100.00"}
    assert march["deferred_revenue"]["billed"] == "100.00"
    assert march["ties_to_invoices"]["ok"] is True


def test_a_credit_note_on_the_tax_line_reduces_tax_payable():
    invoice = taxed_invoice()
    tax = invoice.lines.get(kind="tax")
    post_pending(today=date(2026, 3, 31))
    note = credit_note(invoice, at(2026, 4, 5), {tax.pk: "8.25"}, "reduce_amount_due")
    post_pending(today=date(2026, 4, 30))
    assert journal(JournalEntry.objects.get(source_key=f"credit_note:{note.pk}")) == [
        ("receivable", "", "0.00", "8.25"),
        ("tax_payable", "tax:us-ca", "8.25", "0.00"),
    ]
    assert balance(Account.TAX_PAYABLE) == D("0.00")
    assert balance(Account.REVENUE) == D("100.00")


def test_a_void_takes_the_tax_back():
    invoice = taxed_invoice()
    post_pending(today=date(2026, 3, 31))
    invoice_void(invoice=invoice, reason="duplicate", now=at(2026, 4, 2))
    post_pending(today=date(2026, 4, 30))
    for account in (Account.TAX_PAYABLE, Account.REVENUE, Account.RECEIVABLE):
        assert balance(account) == D("0.00"), account
    assert balance(Account.DEFERRED_REVENUE) == D("0.00")
