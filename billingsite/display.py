"""How amounts, quantities, times and periods read on every screen and document: one way.

Amounts show the currency's own decimals with thousands separators and the ISO code after the
number ("1,234.50 USD"), rounded half-even to the minor unit only when the value is not already
rounded (lines and totals are stored rounded, so formatting never changes them). Quantities drop
trailing zeros ("319", "2.5") and carry their unit when one is known. Times that concern a
customer read in the customer's zone; whole-day billing periods read as dates
("Aug 1 - Aug 31, 2026" with an en dash, the end being the last day included of a half-open period).

Used by the admin (template filters in ``billingsite/templatetags/tally_format.py``), the usage
pages, the reports and the invoice PDF. Pure functions: no database, no request.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from billingsite.money import SupportsAmount, amount_of, format_amount, format_decimal, round_line

DASH = "\u2014"
EN_DASH = "\u2013"


def _grouped(text: str) -> str:
    whole, _, frac = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-')):,}" + (f".{frac}" if frac else "")


def money_text(amount: Decimal | int | SupportsAmount | None, currency: str) -> str:
    """ "1,234.50 USD" for an amount in ``currency`` (its exponent, grouped, code after)."""
    if amount is None:
        return DASH
    value = amount_of(amount, currency)
    return f"{_grouped(format_amount(round_line(value, currency), currency))} {currency}"


def quantity_text(value: Decimal | int | None, unit: str = "") -> str:
    """ "1,234.5 GB": no exponent notation, no trailing zeros, the unit when known."""
    if value is None:
        return DASH
    exact = Decimal(value)
    text = format_decimal(exact)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    grouped = _grouped(text)
    return f"{grouped} {unit}" if unit else grouped


def local_time(moment: datetime, tz: str) -> datetime:
    return moment.astimezone(ZoneInfo(tz or "UTC"))


def time_text(moment: datetime | None, tz: str) -> str:
    """ "Aug 1, 2026, 14:05 EDT" in ``tz``."""
    if moment is None:
        return DASH
    local = local_time(moment, tz)
    return f"{_day(local.date())}, {local:%H:%M} {local.tzname()}"


def utc_text(moment: datetime | None) -> str:
    """ "2026-08-01 18:05 UTC", for a hover title beside a local time."""
    if moment is None:
        return ""
    return f"{moment.astimezone(ZoneInfo('UTC')):%Y-%m-%d %H:%M} UTC"


def _day(day: date) -> str:
    return f"{day:%b} {day.day}, {day.year}"


def date_text(day: date | datetime | None, tz: str = "UTC") -> str:
    """ "Aug 1, 2026"; a datetime is first moved into ``tz``."""
    if day is None:
        return DASH
    if isinstance(day, datetime):
        day = local_time(day, tz).date()
    return _day(day)


def period_text(start: datetime, end: datetime, tz: str) -> str:
    """The half-open period [start, end) in ``tz``: whole days as "Aug 1 - Aug 31, 2026"
    (the year once when both ends share it), other periods with their local times."""
    first, after = local_time(start, tz), local_time(end, tz)
    if (first.hour, first.minute, after.hour, after.minute) != (0, 0, 0, 0):
        return f"{time_text(start, tz)} {EN_DASH} {time_text(end, tz)}"
    last = (after - timedelta(days=1)).date()
    if last <= first.date():
        return _day(first.date())
    if last.year == first.year:
        return f"{first:%b} {first.day} {EN_DASH} {last:%b} {last.day}, {last.year}"
    return f"{_day(first.date())} {EN_DASH} {_day(last)}"


def price_text(amount: Decimal | int | None, currency: str) -> str:
    """A unit price: at least the currency's places, more when the price has them
    ("0.000125 USD" per call, "49.00 USD" a month); never rounded."""
    if amount is None:
        return DASH
    exact = Decimal(amount)
    if round_line(exact, currency) == exact:
        return money_text(exact, currency)
    return f"{quantity_text(exact)} {currency}"
