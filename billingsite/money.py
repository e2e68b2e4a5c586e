"""Tally's money rules. This is the one module that decides them; nothing else rounds money.

Invariants kept here:

- Amounts are ``decimal.Decimal``, never ``float``. ``parse_decimal`` refuses floats outright
  (even ``0.5``, which is exact in binary) so a float cannot slip in through a JSON body.
- Arithmetic on amounts runs in ``exact_context()``: 100 significant digits, which is enough
  for every product and sum of inputs ``parse_decimal`` accepts to be computed without rounding.
  Only a division (proration, a quantity's ``divide_by``) can be inexact, and then it is carried
  to 100 significant digits, far below a minor unit.
- Unit prices keep at most ``UNIT_PRICE_PLACES`` (12) decimal places. More is an error, never a
  silent rounding: a price is what finance typed, and changing it behind their back would make
  an invoice impossible to explain.
- A line amount is computed exactly and then rounded ONCE, by ``round_line``, to the currency's
  ISO 4217 exponent (JPY 0, USD 2, KWD 3) with ``ROUND_HALF_UP``. Decimal's half-up is "half
  away from zero", so a credit line of -0.125 USD rounds to -0.13, the mirror of +0.13.
- A total of several lines is the sum of the rounded lines (``sum_lines``), so an invoice total
  equals the sum of its lines by construction and never by a second rounding.
- Stored amounts come back from the database as django-money ``Money`` objects (see
  ``billingsite.moneyfields``); ``amount_of`` is the one way back to the ``Decimal`` that the
  rules above work on, and it refuses a Money in a currency other than the one expected.

This module must stay free of Django imports so that anything (the rating engine, scripts,
tests without a database) can use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import (
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Any, NoReturn, Protocol

from billingsite.errors import AppError

UNIT_PRICE_PLACES = 12
"""Decimal places a unit price (or any price-spec amount) may carry."""

MAX_INPUT_PLACES = 28
"""Decimal places ``parse_decimal`` accepts by default (quantities from meters, event values)."""

MAX_ABS_VALUE = Decimal(10) ** 24
"""Magnitude bound for every accepted decimal; keeps exact arithmetic within 100 digits."""

_MAX_TEXT_LENGTH = 80
_DECIMAL_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

EXACT_CONTEXT = Context(
    prec=100,
    rounding=ROUND_HALF_EVEN,
    Emin=-999_999,
    Emax=999_999,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)

# ISO 4217 minor-unit exponents of the active currency codes (ISO 4217 list one).
# Two decimals is the common case; the exceptions are spelled out.
_ZERO_DECIMAL = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMAL = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DECIMAL = "CLF UYW"
_TWO_DECIMAL = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD "
    "FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD "
    "KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD "
    "NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP "
    "SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED "
    "VES WST XCD XCG YER ZAR ZMW ZWG"
)

CURRENCY_EXPONENTS: Mapping[str, int] = {
    **{code: 2 for code in _TWO_DECIMAL.split()},
    **{code: 0 for code in _ZERO_DECIMAL.split()},
    **{code: 3 for code in _THREE_DECIMAL.split()},
    **{code: 4 for code in _FOUR_DECIMAL.split()},
}


class MoneyError(AppError, ValueError):
    """A money value or currency the caller must fix (a 400 like every ``AppError``).

    ``code`` is stable and machine-readable, ``message`` is for a person, ``details`` maps the
    offending field to what is wrong with it. Still a ``ValueError`` for callers that parse.
    """

    def __init__(self, code: str, message: str, details: Mapping[str, str] | None = None):
        super().__init__(code, message, details=dict(details or {}))


class SupportsAmount(Protocol):
    """What ``amount_of`` needs of a money object (django-money's and py-moneyed's ``Money``)."""

    @property
    def amount(self) -> Decimal: ...

    @property
    def currency(self) -> Any: ...


def amount_of(value: Decimal | int | SupportsAmount, currency: str | None = None) -> Decimal:
    """The exact ``Decimal`` of a stored amount: a ``Money``'s ``.amount``, a Decimal as is
    (an ``int`` such as a literal ``0`` becomes its Decimal; a float or a string is refused).

    With ``currency``, a Money in another currency raises ``MoneyError`` (code
    ``currency_mismatch``) instead of being read as a number in the wrong currency. Never
    rounds and never accepts a float: a stored amount is already what the rules made it.
    """
    amount: object
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int) and not isinstance(value, bool):
        amount = Decimal(value)
    else:
        amount = getattr(value, "amount", None)
        code = getattr(getattr(value, "currency", None), "code", None)
        if currency is not None and code is not None and code != normalize_currency(currency):
            raise MoneyError(
                "currency_mismatch",
                f"Expected an amount in {normalize_currency(currency)}, got {code}.",
                {"currency": f"must be {normalize_currency(currency)}"},
            )
    if not isinstance(amount, Decimal):
        raise MoneyError(
            "invalid_decimal",
            f"Expected a Decimal or a Money, got {type(value).__name__}.",
            {"amount": "not a Decimal"},
        )
    _require_decimal(amount, "amount")
    return amount


@contextmanager
def exact_context() -> Iterator[Context]:
    """Run the enclosed Decimal arithmetic at 100 digits with errors trapped (see module doc)."""
    with localcontext(EXACT_CONTEXT) as ctx:
        yield ctx


def normalize_currency(currency: str) -> str:
    """Return the upper-case ISO 4217 code, or raise ``MoneyError`` for an unknown currency."""
    if not isinstance(currency, str) or currency.upper() not in CURRENCY_EXPONENTS:
        raise MoneyError(
            "unknown_currency",
            f"{currency!r} is not a supported ISO 4217 currency code.",
            {"currency": "Use a three-letter ISO 4217 code such as USD, EUR or JPY."},
        )
    return currency.upper()


def currency_exponent(currency: str) -> int:
    """Number of decimal places of the currency's minor unit (USD 2, JPY 0, KWD 3)."""
    return CURRENCY_EXPONENTS[normalize_currency(currency)]


def decimal_places(value: Decimal) -> int:
    """Significant decimal places of a finite Decimal: trailing zeros do not count.

    ``Decimal("1.50")`` has 1, ``Decimal("100")`` and ``Decimal("1E+2")`` have 0. Computed from
    the digit tuple, so it never rounds (unlike ``normalize()``, which uses the context).
    """
    _sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        raise MoneyError("invalid_decimal", f"{value!r} is not a finite number.")
    if exponent >= 0 or not any(digits):  # zero has no places, however it is written
        return 0
    trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -exponent - trailing_zeros)


def parse_decimal(value: Any, field: str, *, max_places: int = MAX_INPUT_PLACES) -> Decimal:
    """Turn a JSON-ish value into a finite Decimal, or raise ``MoneyError`` naming ``field``.

    Accepts ``Decimal``, ``int`` (not ``bool``) and decimal strings such as ``"12.50"``,
    ``"-3"``, ``".5"`` or ``"1e3"``. Rejects floats, NaN, infinities, empty or padded strings,
    underscores, magnitudes of 10**24 or more, and more than ``max_places`` decimal places.
    The value is returned exactly as given (``"7.00"`` stays ``Decimal("7.00")``).
    """
    if isinstance(value, (bool, float)):
        kind = "a boolean" if isinstance(value, bool) else "a JSON float"
        _invalid(field, f'must be a decimal string such as "12.50", not {kind}.')
    if isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, Decimal):
        result = value
    elif isinstance(value, str):
        if len(value) > _MAX_TEXT_LENGTH or not _DECIMAL_TEXT.fullmatch(value):
            _invalid(field, f'must be a decimal string such as "12.50", got {value[:40]!r}.')
        result = Decimal(value)
    else:
        _invalid(field, f"must be a decimal string, not {type(value).__name__}.")
    if not result.is_finite():
        _invalid(field, "must be a finite number (no NaN or Infinity).")
    if result.adjusted() >= MAX_ABS_VALUE.adjusted():
        _invalid(field, "is too large (the limit is 10^24).")
    if decimal_places(result) > max_places:
        _invalid(field, f"has more than {max_places} decimal places.")
    return result


def positive_amount(value: Any, currency: str, field: str) -> Decimal:
    """A positive amount with no more places than the currency's minor unit."""
    amount = Decimal(str(value))
    if amount <= 0 or decimal_places(amount) > currency_exponent(currency):
        places = currency_exponent(currency)
        raise MoneyError(
            "invalid_amount",
            f"{field} must be positive with at most {places} decimal places for {currency}.",
            details={field: str(value)},
        )
    return amount


def _invalid(field: str, problem: str) -> NoReturn:
    raise MoneyError("invalid_decimal", f"{field} {problem}", {field: problem})


def quantize_unit_price(value: Decimal, field: str = "unit_amount") -> Decimal:
    """Check that a unit price has at most 12 decimal places and return it unchanged.

    Chosen behaviour: REJECT rather than round. A price with more places than we keep is a
    typo or a conversion bug upstream; rounding it silently would bill a number nobody typed.
    The value is returned as given (no zero padding), so ``"0.05"`` stays ``"0.05"``.
    """
    if not isinstance(value, Decimal) or not value.is_finite():
        raise MoneyError("invalid_decimal", f"{field} must be a finite Decimal.", {field: "bad"})
    if decimal_places(value) > UNIT_PRICE_PLACES:
        problem = f"has more than {UNIT_PRICE_PLACES} decimal places."
        raise MoneyError("too_many_decimal_places", f"{field} {problem}", {field: problem})
    return value


def _minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-currency_exponent(currency))


def round_line(amount: Decimal, currency: str) -> Decimal:
    """Round a line's exact amount once to the currency's minor unit, ROUND_HALF_UP.

    Idempotent: ``round_line(round_line(x, c), c) == round_line(x, c)``. The result always
    carries exactly the exponent's places (``Decimal("12.50")``) and is never ``-0``.
    """
    _require_decimal(amount, "amount")
    with exact_context():
        rounded = amount.quantize(_minor_unit(currency), rounding=ROUND_HALF_UP)
    return rounded.copy_abs() if rounded.is_zero() else rounded


def is_rounded(amount: Decimal, currency: str) -> bool:
    """True when ``amount`` has no more places than the currency's minor unit."""
    _require_decimal(amount, "amount")
    return decimal_places(amount) <= currency_exponent(currency)


def to_minor_units(amount: Decimal, currency: str) -> int:
    """Express a rounded amount as an integer count of minor units (10.00 USD -> 1000).

    Raises ``MoneyError`` when the amount is not already rounded: converting is not the place
    to round, ``round_line`` is.
    """
    _require_rounded(amount, currency, "amount")
    with exact_context():
        return int(amount.scaleb(currency_exponent(currency)))


def from_minor_units(minor: int, currency: str) -> Decimal:
    """Inverse of ``to_minor_units``: 1000 USD cents -> ``Decimal("10.00")``."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise MoneyError("invalid_minor_units", "Minor units must be an int.", {"minor": "int"})
    with exact_context():
        return Decimal(minor).scaleb(-currency_exponent(currency))


def format_amount(amount: Decimal, currency: str) -> str:
    """Major-unit string with exactly the exponent's places: "12.50", "1000" (JPY), "1.250" (KWD).

    The amount must already be rounded (see ``to_minor_units`` for why); zero is never "-0.00".
    """
    _require_rounded(amount, currency, "amount")
    with exact_context():
        fixed = amount.quantize(_minor_unit(currency))
    if fixed.is_zero():
        fixed = fixed.copy_abs()
    return format(fixed, "f")


def format_decimal(value: Decimal) -> str:
    """Plain (never scientific) string of a Decimal, keeping its places: 1E+2 -> "100"."""
    _require_decimal(value, "value")
    if value.is_zero():
        value = value.copy_abs()
    return format(value, "f")


def sum_lines(amounts: Iterable[Decimal], currency: str) -> Decimal:
    """Total of already-rounded line amounts; the result has the currency's exact places.

    Because every line is rounded before it is added, ``total == sum(lines)`` holds exactly and
    no second rounding ever happens. An unrounded amount raises ``MoneyError``.
    """
    total = from_minor_units(0, currency)
    with exact_context():
        for index, amount in enumerate(amounts):
            _require_rounded(amount, currency, f"lines[{index}]")
            total += amount
    return total


def _require_decimal(value: object, field: str) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise MoneyError(
            "invalid_decimal", f"{field} must be a finite Decimal.", {field: "not a Decimal"}
        )


def _require_rounded(amount: Decimal, currency: str, field: str) -> None:
    if not is_rounded(amount, currency):
        places = currency_exponent(currency)
        problem = f"has more than {places} decimal places for {normalize_currency(currency)}."
        raise MoneyError("unrounded_amount", f"{field} {problem} Round it first.", {field: problem})


def allocate(amount: Decimal, weights: Sequence[int | Decimal], currency: str) -> list[Decimal]:
    """Split a rounded ``amount`` into parts proportional to ``weights`` that sum to it exactly.

    Largest remainder: each part gets the floor of its exact share in minor units, then the
    leftover minor units go one each to the parts with the largest remainders (earlier parts
    first on ties). A negative amount is split as the mirror of its absolute value. Weights
    must be non-negative with a positive sum (ratable days, line amounts).
    """
    minor = to_minor_units(amount, currency)
    total_weight = sum((Decimal(w) for w in weights), Decimal(0))
    if any(Decimal(w) < 0 for w in weights) or total_weight <= 0:
        raise MoneyError("invalid_weights", "Weights must be non-negative with a positive sum.", {})
    sign, units = (-1 if minor < 0 else 1), abs(minor)
    with exact_context():
        shares = [Decimal(units) * Decimal(w) / total_weight for w in weights]
    floors = [int(share) for share in shares]
    leftover = units - sum(floors)
    by_remainder = sorted(range(len(shares)), key=lambda i: (-(shares[i] - floors[i]), i))
    for index in by_remainder[:leftover]:
        floors[index] += 1
    return [from_minor_units(sign * part, currency) for part in floors]
