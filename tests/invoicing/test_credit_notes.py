"""Credit notes: full or partial by line, never beyond a line or the invoice, numbered
gaplessly, outcomes (amount due, refund, customer credit)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from billingsite.errors import AppError
from invoicing.models import CreditNote, Invoice
from invoicing.models.credit_notes import ImmutableCreditNoteError
from invoicing.selectors.credits import grant_balance
from invoicing.services.billing import billing_run
from invoicing.services.credit_notes import credit_note_create, invoice_amount_due
from invoicing.services.invoices import invoice_mark_paid
from tests.invoicing.factories import make_contract
from tests.usage_sources import fixed_usage


def _finalized_invoice() -> Invoice:
    make_contract()
    billing_run(now=datetime(2026, 2, 3, tzinfo=UTC), usage=fixed_usage({"api_calls": 1000}))
    return Invoice.objects.get()  # 100.00 fee + 10.00 usage


@pytest.mark.django_db
def test_partial_credit_by_line_reduces_amount_due():
    invoice = _finalized_invoice()
    fee = invoice.lines.get(kind="fixed")
    note = credit_note_create(
        invoice=invoice,
        reason="Outage on Jan 3",
        outcome="reduce_amount_due",
        lines={fee.pk: Decimal("25.00")},
    )
    assert (note.number, note.total.amount) == ("CN-000001", Decimal("25.00"))
    assert invoice_amount_due(invoice) == Decimal("85.00")
    invoice.refresh_from_db()
    assert invoice.total.amount == Decimal("110.00")  # the invoice itself never changes
    with pytest.raises(AppError) as caught:
        credit_note_create(
            invoice=invoice,
            reason="again",
            outcome="reduce_amount_due",
            lines={fee.pk: Decimal("75.01")},
        )
    assert f"lines.{fee.pk}" in caught.value.details
    with pytest.raises(AppError):
        credit_note_create(
            invoice=invoice,
            reason="x",
            outcome="reduce_amount_due",
            lines={fee.pk: Decimal("0.001")},
        )
    full = credit_note_create(invoice=invoice, reason="Goodwill", outcome="reduce_amount_due")
    assert full.total.amount == Decimal("85.00")
    assert invoice_amount_due(invoice) == Decimal("0.00")
    with pytest.raises(AppError):
        credit_note_create(invoice=invoice, reason="more", outcome="reduce_amount_due")
    with pytest.raises(ImmutableCreditNoteError):
        note.save()


@pytest.mark.django_db
def test_outcomes_follow_payment_status():
    invoice = _finalized_invoice()
    with pytest.raises(AppError) as caught:
        credit_note_create(invoice=invoice, reason="r", outcome="refund")
    assert caught.value.code == "not_paid"
    invoice_mark_paid(invoice=invoice, now=datetime(2026, 2, 10, tzinfo=UTC))
    with pytest.raises(AppError):
        credit_note_create(invoice=invoice, reason="r", outcome="reduce_amount_due")
    note = credit_note_create(
        invoice=invoice,
        reason="SLA credit",
        outcome="customer_credit",
        lines={invoice.lines.get(kind="usage").pk: Decimal("10.00")},
    )
    assert grant_balance(note.credit_grant_id) == Decimal("10.00")
    refund = credit_note_create(invoice=invoice, reason="Refund the rest", outcome="refund")
    assert refund.total.amount == Decimal("100.00")
    assert [n.number for n in CreditNote.objects.order_by("pk")] == ["CN-000001", "CN-000002"]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_full_credit_notes_credit_once():
    invoice = _finalized_invoice()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def issue() -> None:
        try:
            barrier.wait()
            credit_note_create(invoice=invoice, reason="dup click", outcome="reduce_amount_due")
            outcomes.append("ok")
        except AppError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=issue) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["invalid_credit_note", "ok"]
    assert CreditNote.objects.get().total.amount == Decimal("110.00")
