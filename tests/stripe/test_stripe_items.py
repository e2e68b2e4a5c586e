"""Stripe items add up to Tally's total exactly, whatever the unit prices (sub-cent included),
quantities, currencies (JPY, USD, KWD) and signs."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from billingsite.money import round_line, sum_lines, to_minor_units
from invoicing.models import InvoiceLine
from invoicing.stripe.invoice_items import stripe_item, stripe_items, stripe_total

START, END = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)


def _line(
    position: int,
    unit: Decimal | None,
    quantity: Decimal | None,
    currency: str,
    amount: Decimal | None = None,
) -> InvoiceLine:
    if amount is None:
        assert unit is not None and quantity is not None
        amount = round_line(unit * quantity, currency)
    price = {"model": "per_unit", "unit_amount": str(unit)} if unit is not None else None
    return InvoiceLine(
        position=position,
        kind="usage",
        description=f"line {position}",
        currency=currency,
        period_start=START,
        period_end=END,
        quantity=quantity,
        amount=amount,
        price=price,
    )


def test_sub_cent_unit_price_is_sent_as_unit_amount_decimal_with_the_same_amount():
    item = stripe_item(_line(0, Decimal("0.0004"), Decimal(38347), "USD"), "USD")
    assert (item.unit_amount_decimal, item.quantity, item.amount) == (Decimal("0.04"), 38347, None)
    assert item.stripe_amount == 1534  # 15.3388 USD rounded once


def test_a_tie_is_sent_as_the_rounded_amount():
    item = stripe_item(_line(0, Decimal("0.0005"), Decimal(1), "USD"), "USD")  # 0.05 cents
    assert (item.unit_amount_decimal, item.stripe_amount) == (Decimal("0.05"), 0)
    tie = stripe_item(_line(1, Decimal("0.005"), Decimal(1), "USD"), "USD")  # exactly 0.5 cent
    assert tie.amount == 1 and tie.unit_amount_decimal is None


def test_fractional_quantity_and_negative_lines_are_sent_as_amounts():
    fractional = stripe_item(_line(0, Decimal("0.10"), Decimal("2.5"), "USD"), "USD")
    credit = stripe_item(_line(1, None, None, "USD", amount=Decimal("-12.34")), "USD")
    assert (fractional.amount, fractional.unit_amount_decimal) == (25, None)
    assert credit.amount == -1234


units = st.decimals(
    min_value=Decimal("0"), max_value=Decimal("50"), places=8, allow_nan=False, allow_infinity=False
)
quantities = st.one_of(
    st.integers(0, 2_000_000).map(Decimal),
    st.decimals(min_value=0, max_value=10_000, places=3, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=300, deadline=None)
@given(
    currency=st.sampled_from(["USD", "JPY", "KWD", "EUR"]),
    rows=st.lists(st.tuples(units, quantities, st.booleans()), min_size=1, max_size=12),
)
def test_stripe_total_equals_the_tally_total(currency, rows):
    lines = []
    for position, (unit, quantity, is_credit) in enumerate(rows):
        line = _line(position, unit, quantity, currency)
        if is_credit:
            line = _line(position, None, None, currency, amount=-line.amount)
        lines.append(line)
    total = sum_lines([line.amount.amount for line in lines], currency)
    items = stripe_items(lines, currency)
    assert stripe_total(items) == to_minor_units(total, currency)
    for item, line in zip(items, lines, strict=True):
        assert item.stripe_amount == to_minor_units(line.amount.amount, currency)
        if item.unit_amount_decimal is not None:  # what Stripe computes, rounding half up
            exact = item.unit_amount_decimal * item.quantity
            assert exact.quantize(Decimal(1), ROUND_HALF_UP) == item.stripe_amount
            assert exact - exact.to_integral_value(rounding="ROUND_FLOOR") != Decimal("0.5")
