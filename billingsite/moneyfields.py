"""How amounts are stored: django-money ``MoneyField`` columns sharing the row's one currency.

A row that holds money (an invoice, a payment, a refund, a ledger entry, ...) has exactly one
``currency`` column, and every amount of the row is in that currency. The amounts are declared

    amount = MoneyField(**AMOUNT, **SHARED_CURRENCY)

so that django-money reads them as ``Money(amount, row.currency)`` without adding a
``<name>_currency`` column per amount. The database columns stay plain ``numeric`` ones with
their old names (the immutability triggers and raw SQL read them unchanged), and aggregates
(``Sum("amount")``), ``values()`` and ``values_list()`` still return ``Decimal``.

Assigning: a ``Decimal`` is an amount in the row's currency. A ``Money`` must be in the row's
currency once the row has one: django-money's own descriptor would silently switch the shared
column instead, re-denominating every other amount of the row, so ``SharedCurrencyMoney``
refuses with ``MoneyError("currency_mismatch")``. Changing ``row.currency`` itself stays an
explicit act on the row. Rounding is not done here: ``billingsite.money`` owns it.

Rows without a currency of their own (invoice lines, credit notes and their lines, credit
ledger entries) have one now, copied from their parent and pinned to it by a composite
(parent id, currency) foreign key (invoicing migrations 0005 and 0006).

What stays a plain Decimal, on purpose: quantities (``InvoiceLine.quantity``, rollup values),
rate multipliers and percentages (``RateOverride.multiplier``, ``Discount.value``, which is a
percent or an amount by ``kind``), price specs inside JSON (unit prices with up to 12
places), ``Commit.amount`` (a contract term; see its comment) and Stripe's integer minor
units on the Stripe mirrors (``StripeInvoice.total_minor``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypedDict

from djmoney.models.fields import MoneyFieldProxy
from djmoney.money import Money
from djmoney.utils import MONEY_CLASSES

from billingsite.money import MoneyError, amount_of, normalize_currency


class Digits(TypedDict):
    """``max_digits`` and ``decimal_places`` of a numeric column, spread into its field."""

    max_digits: int
    decimal_places: int


AMOUNT_PLACES = 4
"""Decimal places of every stored amount column (numeric(24, 4))."""


class SharedCurrencyMoney(MoneyFieldProxy):
    """``MoneyField`` descriptor for an amount that shares the row's ``currency`` column."""

    def __get__(self, obj: Any, type: Any = None) -> Any:
        if obj is not None:
            # A deferred column (``.only()``) is loaded like Django's own descriptor would.
            missing = [
                name
                for name in (self.field.attname, self.currency_field_name)
                if name not in obj.__dict__
            ]
            if missing:
                obj.refresh_from_db(fields=missing)
        return super().__get__(obj, type)

    def prepare_value(self, obj: Any, value: Any) -> Any:
        if isinstance(value, MONEY_CLASSES):
            current = obj.__dict__.get(self.currency_field_name)
            code = value.currency.code
            if current and code != current:
                raise MoneyError(
                    "currency_mismatch",
                    f"{type(obj).__name__}.{self.field.name} is in {current}; "
                    f"refusing an amount in {code}.",
                    {self.field.name: f"must be in {current}"},
                )
        return super().prepare_value(obj, value)


def zero_amount() -> Decimal:
    """Default of an amount column: a bare zero in the row's currency.

    Not ``default=0``: django-money would turn that into ``Money(0, DEFAULT_CURRENCY)`` and,
    on a new row, overwrite the currency the caller gave.
    """
    return Decimal(0)


SHARED_CURRENCY: dict[str, Any] = {
    "currency_field_name": "currency",
    "money_descriptor_class": SharedCurrencyMoney,
}
"""``MoneyField`` options for an amount stored in the row's existing ``currency`` column."""


def to_money(amount: Decimal | Money, currency: str) -> Money:
    """A ``Money`` of an exact ``Decimal`` (never a float) in ``currency``; a Money is checked."""
    code = normalize_currency(currency)
    return Money(amount_of(amount, code), code, decimal_places=AMOUNT_PLACES)
