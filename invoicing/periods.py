"""Billing periods: half-open ``[start, end)``, computed on local dates, stored in UTC.

Boundaries fall at local midnight on the anchor day of every ``cadence_months``-th month,
counted from the month the contract starts in. An anchor past a month's end clamps to its
last day (anchor 31 -> Feb 28/29, Apr 30) without drifting: March's boundary is the 31st again.
Local midnight becomes UTC through ``zoneinfo``, so a period spanning a DST change is 1 hour
shorter or longer in UTC but still covers whole local days. (If a zone skips midnight itself,
zoneinfo maps the missing time forward by the gap, which is still the start of that day.)
"""

from __future__ import annotations

import calendar
import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo


@dataclasses.dataclass(frozen=True, order=True)
class Period:
    """A half-open billing period on local dates, plus its UTC instants."""

    start_date: date
    end_date: date
    timezone: str

    @property
    def start(self) -> datetime:
        return local_midnight_utc(self.start_date, self.timezone)

    @property
    def end(self) -> datetime:
        return local_midnight_utc(self.end_date, self.timezone)

    @property
    def days(self) -> int:
        return (self.end_date - self.start_date).days

    def overlap_days(self, start: date, end: date | None) -> int:
        """Whole local days of ``[start, end)`` (``end`` None = open) inside this period."""
        lo = max(start, self.start_date)
        hi = self.end_date if end is None else min(end, self.end_date)
        return max(0, (hi - lo).days)


def local_midnight_utc(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def local_date(instant: datetime, tz: str) -> date:
    """The local calendar date of an aware instant in ``tz``."""
    return instant.astimezone(ZoneInfo(tz)).date()


def add_months(year: int, month: int, count: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + count
    return index // 12, index % 12 + 1


def anchored_date(year: int, month: int, anchor_day: int) -> date:
    """The anchor day in that month, clamped to the month's last day."""
    return date(year, month, min(anchor_day, calendar.monthrange(year, month)[1]))


def boundary(origin: date, anchor_day: int, cadence_months: int, index: int) -> date:
    year, month = add_months(origin.year, origin.month, index * cadence_months)
    return anchored_date(year, month, anchor_day)


def period_containing(
    day: date, *, origin: date, anchor_day: int, cadence_months: int, timezone: str
) -> Period:
    """The period whose local dates contain ``day``; boundaries are counted from ``origin``'s
    month (the contract's start), every ``cadence_months`` months, on ``anchor_day``."""
    months_apart = (day.year - origin.year) * 12 + (day.month - origin.month)
    index = months_apart // cadence_months
    # At most two steps either way: the clamp moves a boundary by days, never by a period.
    while boundary(origin, anchor_day, cadence_months, index) > day:
        index -= 1
    while boundary(origin, anchor_day, cadence_months, index + 1) <= day:
        index += 1
    return Period(
        boundary(origin, anchor_day, cadence_months, index),
        boundary(origin, anchor_day, cadence_months, index + 1),
        timezone,
    )


def period_after(period: Period, *, origin: date, anchor_day: int, cadence_months: int) -> Period:
    return period_containing(
        period.end_date,
        origin=origin,
        anchor_day=anchor_day,
        cadence_months=cadence_months,
        timezone=period.timezone,
    )


def segment_bounds(period: Period, cut_dates: list[date]) -> list[tuple[date, date]]:
    """Split a period at the given local dates (those strictly inside it), in order."""
    inner = sorted({d for d in cut_dates if period.start_date < d < period.end_date})
    points = [period.start_date, *inner, period.end_date]
    return list(pairwise(points))


def day_after(day: date) -> date:
    return day + timedelta(days=1)
