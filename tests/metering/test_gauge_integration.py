"""``time_weighted_sum`` integration (``metering.selectors.gauges.integrate``): the answer is the
exact integral rounded once, whatever order the store returns the gauges in.

PostgreSQL and ClickHouse return a customer's gauges (one per group) in different orders, and
ClickHouse's order changes from run to run. When each segment was divided by the hour before
summing, the roundings at the 28th digit added up differently per order: the differential test
of the two stores failed in CI on the last digits of an ungrouped gauge."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from metering.selectors.gauges import MICROS_PER_HOUR, integrate

START = datetime(2026, 11, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)

value = st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False)
sample = st.tuples(st.integers(0, 10 * 24 * 3600 * 10**6 - 1), value)  # (micros, value)
gauge = st.tuples(st.sampled_from(["[]", '["eu"]', '["us"]']), st.lists(sample, max_size=6))


def _series(gauges, end):  # type: ignore[no-untyped-def]
    """Each gauge's samples in time order, one per instant (as ``_samples`` gives them)."""
    return [
        (key, [(START + timedelta(microseconds=at), v) for at, v in sorted(dict(samples).items())],
         end)
        for key, samples in gauges
    ]  # fmt: skip


def _exact(series, bounds):  # type: ignore[no-untyped-def]
    """The integral per window as fractions, segment by segment."""
    cells: dict[tuple[int, str], Fraction] = {}
    for key, samples, hi in series:
        for i, (at, v) in enumerate(samples):
            until = samples[i + 1][0] if i + 1 < len(samples) else hi
            for w in range(len(bounds) - 1):
                lo_, hi_ = max(at, bounds[w]), min(until, bounds[w + 1])
                if lo_ < hi_:
                    micros = (hi_ - lo_) // timedelta(microseconds=1)
                    cells[(w, key)] = cells.get((w, key), Fraction(0)) + Fraction(v) * micros
    return {cell: Decimal(f.numerator) / Decimal(f.denominator) / MICROS_PER_HOUR
            for cell, f in cells.items()}  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(gauges=st.lists(gauge, min_size=1, max_size=8), seed=st.integers(0, 10**6))
def test_the_integral_is_exact_and_independent_of_the_order_of_the_gauges(gauges, seed):
    end = START + timedelta(days=10)
    bounds = [START + k * 37 * HOUR + timedelta(microseconds=k * 1234567) for k in range(7)]
    bounds[-1] = end
    series = _series(gauges, end)
    cells, totals = integrate(series, bounds)
    shuffled = list(series)
    random.Random(seed).shuffle(shuffled)
    assert integrate(shuffled, bounds) == (cells, totals)
    assert integrate(list(reversed(series)), bounds) == (cells, totals)
    assert {c: v[0] for c, v in cells.items()} == _exact(series, bounds)


def test_three_gauges_summed_in_two_orders_give_the_same_digits():
    """The case the stores disagreed on, small: three regions of one customer, read ungrouped.
    Dividing each segment by the hour first gave ...555556 in one order, ...555555 in the
    other."""
    end = START + timedelta(days=1, microseconds=7)
    series = [
        ("[]", [(START + timedelta(hours=6, minutes=44, microseconds=93), Decimal("75.617"))], end),
        ("[]", [(START + timedelta(hours=7, minutes=35, microseconds=17), Decimal("47.91"))], end),
        ("[]", [(START + timedelta(hours=1, minutes=39, microseconds=4), Decimal("17.822"))], end),
    ]
    bounds = [START, end]
    forward, backward = integrate(series, bounds), integrate(series[::-1], bounds)
    assert forward == backward
    assert forward[1]["[]"][0] == _exact(series, bounds)[(0, "[]")]
    assert str(forward[1]["[]"][0]).startswith("2490.4977314086955555555555")
