"""The MoneyField migrations keep every stored amount and currency.

Two directions are checked: rows written through the historical (pre-conversion) models read
back as the same Money afterwards; and real rows written by today's services (a finalized
invoice that drew credits, a credit note, a payment, a refund) survive a rollback to before
the conversion and the migration forward again, which re-fills the new ``currency`` columns
from the parents, past the append-only trigger of the credit ledger.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from djmoney.money import Money

from disputes.models import Dispute, LedgerEntry, Refund
from disputes.services.refunds import refund_request
from invoicing.models import (
    CreditEntry,
    CreditGrant,
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
    Payment,
)
from invoicing.services.credit_notes import credit_note_create
from invoicing.services.credits import credit_grant_create
from tests.disputes.factories import paid_invoice_payment, staff
from tests.factories import CustomerFactory

D = Decimal

BEFORE = [("disputes", "0001_initial"), ("invoicing", "0004_credit_notes")]

# Every converted model and its amount fields (all share the row's ``currency``).
CONVERTED = [
    (Refund, ["amount"]),
    (Dispute, ["amount"]),
    (LedgerEntry, ["amount"]),
    (Payment, ["amount", "amount_captured", "amount_refunded"]),
    (CreditGrant, ["amount"]),
    (CreditEntry, ["amount"]),
    (CreditNote, ["total"]),
    (CreditNote.history.model, ["total"]),
    (CreditNoteLine, ["amount"]),
    (Invoice, ["total"]),
    (Invoice.history.model, ["total"]),
    (InvoiceLine, ["amount"]),
]


def _leaves() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _migrate(targets: list[tuple[str, str]]):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


def _snapshot() -> dict[tuple[str, int, str], tuple[Decimal, str]]:
    """Every stored amount as (exact Decimal, currency), read as plain columns."""
    rows = {}
    for model, fields in CONVERTED:
        for pk, currency, *amounts in model.objects.values_list("pk", "currency", *fields):
            for name, amount in zip(fields, amounts, strict=True):
                rows[(model._meta.label, pk, name)] = (amount, currency)
    return rows


@pytest.fixture
def restore_leaves() -> Iterator[None]:
    try:
        yield
    finally:
        _migrate(_leaves())


@pytest.mark.slow  # migrates the schema back and forth
@pytest.mark.django_db(transaction=True)
def test_rows_written_before_the_conversion_read_back_as_the_same_money(restore_leaves):
    apps = _migrate(BEFORE)
    dispute = apps.get_model("disputes", "Dispute").objects.create(
        stripe_id="dp_m", amount=D("1.235"), currency="KWD", status="needs_response"
    )
    entry = apps.get_model("disputes", "LedgerEntry").objects.create(
        posting_key="m:1", account="cash", amount=D("-1000"), currency="JPY"
    )
    customer = CustomerFactory(currency="KWD")
    payment = apps.get_model("invoicing", "Payment").objects.create(
        customer_id=customer.pk,
        stripe_charge_id="ch_m",
        currency="KWD",
        amount=D("1.235"),
        amount_captured=D("1.235"),
    )
    grant = apps.get_model("invoicing", "CreditGrant").objects.create(
        customer_id=customer.pk,
        kind="paid",
        amount=D("2.5"),
        currency="KWD",
        effective_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    old_entry = apps.get_model("invoicing", "CreditEntry").objects.create(
        grant_id=grant.pk, kind="grant", amount=D("2.5")
    )

    _migrate(_leaves())

    assert Dispute.objects.get(pk=dispute.pk).amount == Money(D("1.235"), "KWD")
    assert LedgerEntry.objects.get(pk=entry.pk).amount == Money(D("-1000"), "JPY")
    loaded = Payment.objects.get(pk=payment.pk)
    assert (loaded.amount, loaded.amount_captured, loaded.amount_refunded) == (
        Money(D("1.235"), "KWD"),
        Money(D("1.235"), "KWD"),
        Money(0, "KWD"),
    )
    assert CreditGrant.objects.get(pk=grant.pk).amount == Money(D("2.5"), "KWD")
    filled = CreditEntry.objects.get(pk=old_entry.pk)
    assert (filled.currency, filled.amount) == ("KWD", Money(D("2.5"), "KWD"))


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_rollback_and_forward_keeps_every_amount_and_refills_currencies(restore_leaves):
    customer = CustomerFactory()
    credit_grant_create(
        customer=customer,
        kind="promotional",
        amount="5.00",
        currency="USD",
        effective_at=datetime(2025, 12, 1, tzinfo=UTC),
    )
    invoice, payment = paid_invoice_payment(customer)
    assert CreditEntry.objects.filter(invoice=invoice, kind="drawdown").exists()
    credit_note_create(
        invoice=invoice,
        reason="Outage",
        outcome="customer_credit",
        lines={invoice.lines.filter(amount__gt=0).first().pk: D("1.00")},
    )
    refund_request(payment=payment, amount=D("2.00"), reason="other", actor=staff("support"))
    before = _snapshot()
    assert {key[0] for key in before} >= {
        "invoicing.CreditEntry",
        "invoicing.CreditNote",
        "invoicing.CreditNoteLine",
        "invoicing.Payment",
        "disputes.Refund",
        "invoicing.InvoiceLine",
    }

    _migrate(BEFORE)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'invoicing_creditentry'"
        )
        assert "currency" not in {row[0] for row in cursor.fetchall()}
        cursor.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'invoicing_invoiceline'"
        )
        assert "currency" not in {row[0] for row in cursor.fetchall()}
    _migrate(_leaves())

    assert _snapshot() == before
    for model, fields in CONVERTED:
        for row in model.objects.all():
            for name in fields:
                amount, currency = before[(model._meta.label, row.pk, name)]
                assert getattr(row, name) == Money(amount, currency)


def test_no_migration_state_model_has_two_fields_of_one_name():
    """django-money adds a currency field when an amount comes first in the state; the
    migrations re-add each amount after ``currency`` so no model gets a second one."""
    state = MigrationLoader(None, ignore_no_migrations=True).project_state()
    for model in state.apps.get_models():
        names = [f.name for f in model._meta.local_fields]
        assert len(names) == len(set(names)), model._meta.label
