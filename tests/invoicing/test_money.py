"""Example tests for billingsite.money: exponents, line rounding, minor units, parsing."""

from __future__ import annotations

import ast
from decimal import Decimal
from pathlib import Path

import pytest

from billingsite import money
from billingsite.money import (
    MoneyError,
    currency_exponent,
    format_amount,
    from_minor_units,
    parse_decimal,
    quantize_unit_price,
    round_line,
    sum_lines,
    to_minor_units,
)

D = Decimal


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [
        ("USD", 2), ("EUR", 2), ("GBP", 2), ("CHF", 2), ("CAD", 2), ("AUD", 2), ("INR", 2),
        ("BRL", 2), ("SEK", 2), ("NOK", 2), ("DKK", 2), ("PLN", 2), ("MXN", 2), ("SGD", 2),
        ("HKD", 2), ("NZD", 2), ("HUF", 2), ("JPY", 0), ("KRW", 0), ("CLP", 0), ("VND", 0),
        ("ISK", 0), ("KWD", 3), ("BHD", 3), ("TND", 3), ("OMR", 3), ("JOD", 3),
    ],
)  # fmt: skip
def test_iso_4217_exponents(currency: str, exponent: int) -> None:
    assert currency_exponent(currency) == exponent


def test_currency_codes_are_case_insensitive_and_unknown_ones_rejected() -> None:
    assert currency_exponent("jpy") == 0
    for bad in ("XXX1", "ZZZ", "", "US"):
        with pytest.raises(MoneyError) as excinfo:
            currency_exponent(bad)
        assert excinfo.value.code == "unknown_currency"
        assert "currency" in excinfo.value.details


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("0.115", "USD", "0.12"),  # tie -> up, not banker's 0.12/0.12 ...
        ("0.125", "USD", "0.13"),  # ... which would give 0.12 here
        ("0.124999", "USD", "0.12"),
        ("-0.125", "USD", "-0.13"),  # half away from zero for credits
        ("-0.001", "USD", "0.00"),  # never "-0.00"
        ("1999.5", "JPY", "2000"),
        ("1998.5", "JPY", "1999"),
        ("1.2345", "KWD", "1.235"),
        ("1.2344", "KWD", "1.234"),
        ("7", "USD", "7.00"),
        ("4.00455", "USD", "4.00"),
    ],
)
def test_round_line_half_up_at_the_currency_exponent(
    amount: str, currency: str, expected: str
) -> None:
    rounded = round_line(D(amount), currency)
    assert str(rounded) == expected
    assert round_line(rounded, currency) == rounded


def test_minor_units_round_trip_and_refuse_unrounded_amounts() -> None:
    assert to_minor_units(D("10.00"), "USD") == 1000
    assert to_minor_units(D("10"), "USD") == 1000
    assert to_minor_units(D("500"), "JPY") == 500
    assert to_minor_units(D("5.124"), "KWD") == 5124
    assert str(from_minor_units(1000, "USD")) == "10.00"
    assert str(from_minor_units(-5124, "KWD")) == "-5.124"
    assert str(from_minor_units(500, "JPY")) == "500"
    with pytest.raises(MoneyError) as excinfo:
        to_minor_units(D("0.015"), "USD")
    assert excinfo.value.code == "unrounded_amount"
    with pytest.raises(MoneyError):
        from_minor_units(True, "USD")


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("12.5", "USD", "12.50"),
        ("1000", "JPY", "1000"),
        ("1.25", "KWD", "1.250"),
        ("-0.00", "EUR", "0.00"),
        ("1E+3", "USD", "1000.00"),
        ("-5.00", "GBP", "-5.00"),
    ],
)
def test_format_amount_has_exactly_the_exponent_places(
    amount: str, currency: str, expected: str
) -> None:
    assert format_amount(D(amount), currency) == expected


def test_format_amount_refuses_to_round() -> None:
    with pytest.raises(MoneyError) as excinfo:
        format_amount(D("12.505"), "USD")
    assert excinfo.value.code == "unrounded_amount"


def test_parse_decimal_accepts_strings_ints_and_decimals_exactly() -> None:
    assert str(parse_decimal("7.00", "amount")) == "7.00"
    assert parse_decimal(5, "amount") == D(5)
    assert parse_decimal(D("0.000000000001"), "amount") == D("1E-12")
    assert parse_decimal("-3", "amount") == D(-3)
    assert parse_decimal(".5", "amount") == D("0.5")
    assert parse_decimal("1e3", "amount") == D(1000)


@pytest.mark.parametrize(
    "value",
    [0.5, 1.0, float("nan"), float("inf"), True, None, [], {}, "", " 1", "1 ", "1_000", "NaN",
     "Infinity", "-inf", "sNaN", "1,5", "0x10", "12.50 USD", "1e24", 10**24, "9" * 81],
)  # fmt: skip
def test_parse_decimal_rejects_floats_specials_and_garbage(value: object) -> None:
    with pytest.raises(MoneyError) as excinfo:
        parse_decimal(value, "tiers[0].unit_amount")
    assert excinfo.value.code == "invalid_decimal"
    assert list(excinfo.value.details) == ["tiers[0].unit_amount"]
    assert "tiers[0].unit_amount" in excinfo.value.message


def test_parse_decimal_limits_decimal_places() -> None:
    assert parse_decimal("0.123456789012", "p", max_places=12) == D("0.123456789012")
    # trailing zeros are not significant places
    assert parse_decimal("0.12345678901200000", "p", max_places=12) == D("0.123456789012")
    with pytest.raises(MoneyError):
        parse_decimal("0.1234567890123", "p", max_places=12)


def test_quantize_unit_price_rejects_instead_of_rounding() -> None:
    assert str(quantize_unit_price(D("0.05"))) == "0.05"
    assert quantize_unit_price(D("0.000000000001")) == D("1E-12")
    with pytest.raises(MoneyError) as excinfo:
        quantize_unit_price(D("0.0000000000005"), "tiers[1].unit_amount")
    assert excinfo.value.code == "too_many_decimal_places"
    assert "tiers[1].unit_amount" in excinfo.value.details
    assert money.UNIT_PRICE_PLACES == 12


def test_sum_lines_adds_rounded_lines_and_refuses_unrounded_ones() -> None:
    lines = [round_line(D("-6.666666"), "GBP"), round_line(D("3.333333"), "GBP")]
    assert str(sum_lines(lines, "GBP")) == "-3.34"
    assert str(sum_lines([], "JPY")) == "0"
    with pytest.raises(MoneyError) as excinfo:
        sum_lines([D("1.00"), D("0.005")], "USD")
    assert excinfo.value.code == "unrounded_amount"
    assert "lines[1]" in excinfo.value.details


def test_exact_context_keeps_long_products_exact() -> None:
    # 30 significant digits: the default 28-digit context would round this product.
    quantity = D("123456789012345678")
    unit = D("0.000000000001")
    with money.exact_context():
        product = quantity * D("1.000000000001") * unit
    assert product == D("123456.789012469134789012345678")


def test_money_module_does_not_import_django() -> None:
    tree = ast.parse(Path(money.__file__).read_text(encoding="utf-8"))
    imported = [
        name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
        )
    ]
    assert imported, "expected the module to import something"
    assert not [name for name in imported if name.split(".")[0] == "django"]


class _FakeCurrency:
    def __init__(self, code: str) -> None:
        self.code = code


class _FakeMoney:
    """Duck-typed like django-money's Money: ``amount_of`` must not need Django to read it."""

    def __init__(self, amount: object, currency: str) -> None:
        self.amount = amount
        self.currency = _FakeCurrency(currency)


def test_amount_of_reads_decimals_ints_and_money_exactly() -> None:
    from djmoney.money import Money

    assert money.amount_of(D("1.2340")) == D("1.2340")
    assert str(money.amount_of(D("1.2340"))) == "1.2340"
    assert money.amount_of(0) == D(0)
    assert money.amount_of(Money(D("1.235"), "KWD"), "KWD") == D("1.235")
    assert money.amount_of(Money(D("1000"), "JPY")) == D("1000")
    assert money.amount_of(_FakeMoney(D("-0.13"), "USD"), "usd") == D("-0.13")


@pytest.mark.parametrize(
    "value",
    [1.5, "1.50", True, None, _FakeMoney(0.5, "USD"), D("NaN"), _FakeMoney(D("Infinity"), "USD")],
)
def test_amount_of_refuses_floats_strings_and_non_finite(value: object) -> None:
    with pytest.raises(MoneyError) as caught:
        money.amount_of(value)  # type: ignore[arg-type]
    assert caught.value.code == "invalid_decimal"


def test_amount_of_refuses_money_in_another_currency() -> None:
    with pytest.raises(MoneyError) as caught:
        money.amount_of(_FakeMoney(D("1"), "EUR"), "USD")
    assert caught.value.code == "currency_mismatch"


def test_zero_written_with_places_is_rounded_in_every_currency():
    # A stored zero total reads back as Decimal("0.0000") (four places in the column): it is
    # rounded, converts to 0 minor units and formats as "0.00" (the AR aging page crashed here).
    from billingsite.money import decimal_places, format_amount, is_rounded, to_minor_units

    for zero in (Decimal("0.0000"), Decimal("-0.000"), Decimal("0E-10"), Decimal("0")):
        assert decimal_places(zero) == 0
        assert is_rounded(zero, "USD") and is_rounded(zero, "JPY")
        assert to_minor_units(zero, "USD") == 0
        assert format_amount(zero, "USD") == "0.00"
