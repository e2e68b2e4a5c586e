"""Billing periods: half-open local days, anchor clamping, DST, stored in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from invoicing.periods import Period, period_after, period_containing


def monthly(day: date, *, anchor: int, tz: str = "UTC", origin: date = date(2024, 1, 1)) -> Period:
    return period_containing(day, origin=origin, anchor_day=anchor, cadence_months=1, timezone=tz)


def test_anchor_31_clamps_to_february_end_and_returns_to_31():
    jan = monthly(date(2025, 1, 31), anchor=31)
    assert (jan.start_date, jan.end_date) == (date(2025, 1, 31), date(2025, 2, 28))
    feb = period_after(jan, origin=date(2024, 1, 1), anchor_day=31, cadence_months=1)
    assert (feb.start_date, feb.end_date) == (date(2025, 2, 28), date(2025, 3, 31))
    leap = monthly(date(2024, 2, 29), anchor=31)
    assert (leap.start_date, leap.end_date) == (date(2024, 2, 29), date(2024, 3, 31))
    april = monthly(date(2025, 4, 15), anchor=31)
    assert (april.start_date, april.end_date) == (date(2025, 3, 31), date(2025, 4, 30))


def test_day_before_anchor_belongs_to_previous_period():
    period = monthly(date(2025, 3, 14), anchor=15)
    assert (period.start_date, period.end_date) == (date(2025, 2, 15), date(2025, 3, 15))
    assert period.days == 28


def test_new_york_spring_forward_period_is_one_hour_shorter_in_utc():
    period = monthly(date(2026, 3, 5), anchor=1, tz="America/New_York")
    assert period.start == datetime(2026, 3, 1, 5, tzinfo=UTC)  # EST, UTC-5
    assert period.end == datetime(2026, 4, 1, 4, tzinfo=UTC)  # EDT, UTC-4
    assert period.end - period.start == timedelta(days=31, hours=-1)
    assert period.days == 31


def test_berlin_fall_back_period_is_one_hour_longer_in_utc():
    period = monthly(date(2026, 10, 20), anchor=1, tz="Europe/Berlin")
    assert period.start == datetime(2026, 9, 30, 22, tzinfo=UTC)  # CEST, UTC+2
    assert period.end == datetime(2026, 10, 31, 23, tzinfo=UTC)  # CET, UTC+1
    assert period.end - period.start == timedelta(days=31, hours=1)


def test_lord_howe_half_hour_dst_shift():
    period = monthly(date(2026, 4, 10), anchor=1, tz="Australia/Lord_Howe")
    # +11:00 (daylight) on April 1st, +10:30 on May 1st.
    assert period.start == datetime(2026, 3, 31, 13, tzinfo=UTC)
    assert period.end == datetime(2026, 4, 30, 13, 30, tzinfo=UTC)


@pytest.mark.parametrize("cadence,expected_end", [(3, date(2026, 5, 31)), (12, date(2027, 2, 28))])
def test_quarterly_and_annual_from_contract_month(cadence, expected_end):
    period = period_containing(
        date(2026, 3, 1),
        origin=date(2025, 2, 28),
        anchor_day=31,
        cadence_months=cadence,
        timezone="UTC",
    )
    assert period.end_date == expected_end


@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)),
    st.integers(min_value=1, max_value=31),
    st.sampled_from([1, 3, 12]),
)
def test_periods_tile_the_calendar(day, anchor, cadence):
    kwargs = {"origin": date(2020, 7, 1), "anchor_day": anchor, "cadence_months": cadence}
    period = period_containing(day, timezone="Europe/Berlin", **kwargs)
    assert period.start_date <= day < period.end_date
    following = period_after(period, **kwargs)
    assert following.start_date == period.end_date
    assert 28 * cadence - 3 <= period.days <= 31 * cadence + 3
    assert period.start < period.end
