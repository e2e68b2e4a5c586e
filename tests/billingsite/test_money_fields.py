"""Stored amounts are django-money ``MoneyField`` columns sharing the row's ``currency`` column.

Per converted model: a round trip keeps the currency and the exact Decimal (KWD 3 places, JPY 0,
a negative ledger amount); a Money in another currency is refused rather than silently
re-denominating the row; aggregates and ``values()`` still give Decimals; deferred columns load.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from itertools import count

import pytest
from django.db import IntegrityError, connection, models, transaction
from djmoney.models.fields import MoneyField
from djmoney.money import Money

from billingsite.money import MoneyError
from billingsite.moneyfields import SharedCurrencyMoney, to_money
from disputes.models import Dispute, LedgerAccount, LedgerEntry, Refund
from invoicing.invariants import credit_entry_currencies, invoice_currencies
from invoicing.models import (
    CreditEntry,
    CreditGrant,
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
    Payment,
)
from tests.disputes.factories import paid_invoice_payment
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract, make_version

D = Decimal
JAN, FEB = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
_seq = count(1)

Builder = Callable[[str, Decimal], models.Model]


def _refund(currency: str, amount: Decimal) -> models.Model:
    _invoice, payment = paid_invoice_payment()
    return Refund.objects.create(
        payment=payment, customer=payment.customer, currency=currency, amount=amount, reason="other"
    )


def _dispute(currency: str, amount: Decimal) -> models.Model:
    return Dispute.objects.create(
        stripe_id=f"dp_{currency}_{amount}",
        currency=currency,
        amount=amount,
        status="needs_response",
    )


def _ledger_entry(currency: str, amount: Decimal) -> models.Model:
    return LedgerEntry.objects.create(
        posting_key=f"t:{currency}:{amount}",
        account=LedgerAccount.CASH,
        currency=currency,
        amount=amount,
    )


def _payment(currency: str, amount: Decimal) -> models.Model:
    return Payment.objects.create(
        customer=CustomerFactory(),
        currency=currency,
        stripe_payment_intent_id=f"pi_money_{next(_seq)}",
        amount=amount,
        amount_captured=amount,
        amount_refunded=amount,
    )


def _grant(currency: str, amount: Decimal) -> CreditGrant:
    return CreditGrant.objects.create(
        customer=CustomerFactory(),
        kind="promotional",
        currency=currency,
        amount=amount,
        effective_at=JAN,
    )


def _credit_entry(currency: str, amount: Decimal) -> models.Model:
    return CreditEntry.objects.create(
        grant=_grant(currency, amount), kind="adjustment", currency=currency, amount=amount
    )


def _invoice(currency: str) -> Invoice:
    version = make_version(key=f"money{next(_seq)}", currency=currency)
    contract = make_contract(CustomerFactory(currency=currency), version=version)
    return Invoice.objects.create(
        customer=contract.customer,
        contract=contract,
        currency=currency,
        series=f"T-{currency}",
        period_start=JAN,
        period_end=FEB,
        finalize_after=FEB,
    )


def _invoice_line(invoice: Invoice, amount: Decimal) -> InvoiceLine:
    return InvoiceLine.objects.create(
        invoice=invoice,
        currency=invoice.currency,
        position=next(_seq),
        kind="usage",
        description="Calls",
        period_start=JAN,
        period_end=FEB,
        amount=amount,
    )


def _invoice_total(currency: str, amount: Decimal) -> models.Model:
    invoice = _invoice(currency)
    invoice.total = amount
    invoice.save()
    return invoice


def _line(currency: str, amount: Decimal) -> models.Model:
    return _invoice_line(_invoice(currency), amount)


def _credit_note(currency: str, amount: Decimal) -> CreditNote:
    return CreditNote.objects.create(
        invoice=_invoice(currency),
        number=f"CN-T-{next(_seq)}",
        reason="test",
        outcome="refund",
        currency=currency,
        total=amount,
    )


def _credit_note_line(currency: str, amount: Decimal) -> models.Model:
    note = _credit_note(currency, amount)
    return CreditNoteLine.objects.create(
        credit_note=note,
        invoice_line=_invoice_line(note.invoice, amount),
        currency=currency,
        amount=amount,
        description="Calls",
    )


# (model, amount field, builder): every amount that is a MoneyField, with a way to store one.
CONVERTED: list[tuple[type[models.Model], str, Builder]] = [
    (Refund, "amount", _refund),
    (Dispute, "amount", _dispute),
    (LedgerEntry, "amount", _ledger_entry),
    (Payment, "amount", _payment),
    (Payment, "amount_captured", _payment),
    (Payment, "amount_refunded", _payment),
    (CreditGrant, "amount", _grant),
    (CreditEntry, "amount", _credit_entry),
    (CreditNote, "total", _credit_note),
    (CreditNoteLine, "amount", _credit_note_line),
    (Invoice, "total", _invoice_total),
    (InvoiceLine, "amount", _line),
]
IDS = [f"{model.__name__}.{name}" for model, name, _ in CONVERTED]

SAMPLES = [("KWD", D("1.235")), ("JPY", D("1000")), ("USD", D("12.50")), ("EUR", D("0.0001"))]


@pytest.mark.parametrize(("model", "name", "build"), CONVERTED, ids=IDS)
def test_amount_is_a_money_field_on_the_rows_currency_column(model, name, build):
    field = model._meta.get_field(name)
    assert isinstance(field, MoneyField)
    assert (field.currency_field_name, field.max_digits, field.decimal_places) == (
        "currency",
        24,
        4,
    )
    assert isinstance(model.__dict__[name], SharedCurrencyMoney)
    # No per-amount "<name>_currency" column was added next to the shared one.
    assert [f.name for f in model._meta.concrete_fields if f.name.endswith("currency")] == [
        "currency"
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(("currency", "amount"), SAMPLES)
@pytest.mark.parametrize(("model", "name", "build"), CONVERTED, ids=IDS)
def test_round_trip_keeps_currency_and_exact_decimal(model, name, build, currency, amount):
    row = build(currency, amount)
    loaded = model.objects.get(pk=row.pk)
    value = getattr(loaded, name)
    assert isinstance(value, Money)
    assert value == Money(amount, currency)
    assert (value.amount, value.currency.code, loaded.currency) == (amount, currency, currency)
    # Stored as numeric(24, 4): exactly the Decimal, four places, never a float.
    assert str(value.amount) == str(amount.quantize(D("0.0001")))
    # Aggregates and values() read the column as a plain Decimal.
    assert model.objects.filter(pk=row.pk).values_list(name, flat=True).get() == amount
    assert model.objects.filter(pk=row.pk).aggregate(s=models.Sum(name))["s"] == amount
    # Filtering by a Money matches amount and currency.
    assert model.objects.filter(**{name: Money(amount, currency)}).count() == 1
    assert model.objects.filter(pk=row.pk, **{name: Money(amount, "CHF")}).count() == 0
    # A deferred amount (or currency) loads on access.
    deferred = model.objects.only("pk").get(pk=row.pk)
    assert getattr(deferred, name) == Money(amount, currency)


@pytest.mark.django_db
@pytest.mark.parametrize(("model", "name", "build"), CONVERTED, ids=IDS)
def test_money_in_another_currency_is_refused_not_mixed(model, name, build):
    row = build("USD", D("5.00"))
    with pytest.raises(MoneyError) as caught:
        setattr(row, name, Money(D("5.00"), "EUR"))
    assert caught.value.code == "currency_mismatch"
    assert (row.currency, getattr(row, name)) == ("USD", Money(D("5.00"), "USD"))
    # The same currency as a Money, or a bare Decimal (in the row's currency), is accepted.
    setattr(row, name, Money(D("7.25"), "USD"))
    assert getattr(row, name) == Money(D("7.25"), "USD")
    setattr(row, name, D("8"))
    assert getattr(row, name) == Money(D("8"), "USD")


@pytest.mark.django_db
def test_money_on_a_new_row_without_currency_sets_it_and_kwargs_refuse_a_mismatch():
    row = Dispute(stripe_id="dp_new", status="needs_response", amount=to_money(D("3"), "JPY"))
    assert row.currency == "JPY"
    with pytest.raises(MoneyError):
        Dispute(
            stripe_id="dp_mix", status="needs_response", currency="USD", amount=Money(D("3"), "JPY")
        )


def test_to_money_builds_exact_money_and_checks_currency():
    assert to_money(D("1.235"), "kwd") == Money(D("1.235"), "KWD")
    assert to_money(Money(D("2"), "USD"), "USD") == Money(D("2"), "USD")
    with pytest.raises(MoneyError):
        to_money(Money(D("2"), "USD"), "EUR")
    with pytest.raises(MoneyError):
        to_money(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        to_money(D("1"), "ZZZ")


@pytest.mark.django_db
def test_payment_default_amounts_are_zero_in_the_given_currency():
    payment = Payment(customer=CustomerFactory(), currency="KWD", stripe_charge_id="ch_default")
    payment.save()
    payment.refresh_from_db()
    assert (payment.currency, payment.amount, payment.amount_captured, payment.amount_refunded) == (
        "KWD",
        Money(0, "KWD"),
        Money(0, "KWD"),
        Money(0, "KWD"),
    )


def _refused(create: Callable[[], object]) -> str:
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        create()
    return str(caught.value)


@pytest.mark.django_db
def test_children_in_another_currency_than_their_parent_are_refused_by_the_database():
    grant = _grant("USD", D("10"))
    assert "creditentry_grant_currency_fk" in _refused(
        lambda: CreditEntry.objects.create(
            grant=grant, kind="adjustment", currency="EUR", amount=D("1")
        )
    )
    invoice = _invoice("JPY")
    assert "creditnote_invoice_currency_fk" in _refused(
        lambda: CreditNote.objects.create(
            invoice=invoice,
            number="CN-T-X",
            reason="r",
            outcome="refund",
            currency="USD",
            total=D("1"),
        )
    )
    note = _credit_note("KWD", D("1.235"))
    line = _invoice_line(note.invoice, D("1.235"))
    assert "creditnoteline_note_currency_fk" in _refused(
        lambda: CreditNoteLine.objects.create(
            credit_note=note, invoice_line=line, currency="BHD", amount=D("1"), description="x"
        )
    )
    assert "invoiceline_invoice_currency_fk" in _refused(
        lambda: InvoiceLine.objects.bulk_create(
            [
                InvoiceLine(
                    invoice=invoice,
                    currency="USD",
                    position=1,
                    kind="usage",
                    description="x",
                    period_start=JAN,
                    period_end=FEB,
                    amount=D("1"),
                )
            ]
        )
    )
    # An invoice's currency cannot move away from its lines' either.
    _invoice_line(invoice, D("5"))
    assert "invoiceline_invoice_currency_fk" in _refused(
        lambda: Invoice.objects.filter(pk=invoice.pk).update(currency="EUR")
    )


@pytest.mark.django_db
def test_currency_invariants_find_children_whose_foreign_key_was_dropped():
    grant = _grant("USD", D("10"))
    note = _credit_note("USD", D("5"))
    line = _invoice_line(note.invoice, D("5"))
    assert list(credit_entry_currencies()) == [] and list(invoice_currencies()) == []
    with connection.cursor() as cursor:  # rolled back with the test's transaction
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending events block ALTER TABLE
        for table, key in [
            ("creditentry", "creditentry_grant_currency_fk"),
            ("creditnote", "creditnote_invoice_currency_fk"),
            ("creditnoteline", "creditnoteline_note_currency_fk"),
            ("invoiceline", "invoiceline_invoice_currency_fk"),
        ]:
            cursor.execute(f"ALTER TABLE invoicing_{table} DROP CONSTRAINT {key}")
    entry = CreditEntry.objects.create(
        grant=grant, kind="adjustment", currency="EUR", amount=D("1")
    )
    bad_note = CreditNote.objects.create(
        invoice=note.invoice,
        number="CN-T-BAD",
        reason="r",
        outcome="refund",
        currency="GBP",
        total=D("1"),
    )
    CreditNoteLine.objects.create(
        credit_note=note, invoice_line=line, currency="CHF", amount=D("1"), description="x"
    )
    bad_line = InvoiceLine.objects.create(
        invoice=note.invoice,
        currency="SEK",
        position=99,
        kind="usage",
        description="x",
        period_start=JAN,
        period_end=FEB,
        amount=D("1"),
    )
    assert [v.subject for v in credit_entry_currencies()] == [f"credit entry #{entry.pk}"]
    found = [v.subject for v in invoice_currencies()]
    assert f"credit note {bad_note.number}" in found and len(found) == 3
    assert f"invoice line #{bad_line.pk}" in found
