"""``time_weighted_sum``: a gauge integrated over time, from raw events (exact for any period).

Each (customer, meter version, full group) is one gauge. A sample holds its value from its
timestamp until the next sample (ties: the later-stored event wins), and the integral stops at
the period end or now, whichever is earlier. The value before the period is the last sample
before it. Units: value x hours (e.g. GB samples -> GB-hours).

Each window is summed exactly, in value x microseconds, and divided by the hour once at the
end: a quotient per segment (e.g. x/3,600,000,000) is rounded at the 28th digit, and sums of
rounded parts depend on the order they are added in. The stores return groups in no fixed order
(ClickHouse's GROUP BY answers in hash-table order), so a per-segment division made the same
usage differ in its last digits between stores and between runs.
"""

from __future__ import annotations

import bisect
import decimal
import json
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from accounts.models import Customer
from metering.meter_sql import VersionSpan, group_key
from metering.selectors.reads import usage_reads

MICROS_PER_HOUR = Decimal(3_600_000_000)
ONE_MICRO = timedelta(microseconds=1)


def _samples(
    customer_id: int, span: VersionSpan, lo: datetime, hi: datetime
) -> dict[str, list[tuple[datetime, Decimal]]]:
    rows: dict[str, list[tuple[datetime, int, Decimal]]] = defaultdict(list)
    for group_values, sample, at, pk in usage_reads().gauge_samples(customer_id, span, lo, hi):
        rows[group_key(group_values)].append((at, pk, Decimal(sample)))
    series: dict[str, list[tuple[datetime, Decimal]]] = {}
    for key, samples in rows.items():
        samples.sort()
        series[key] = [(max(at, lo), value) for at, _, value in samples]
    return series


def _project(version_dims: list[str], dims: list[str], full_key: str) -> str:
    values = json.loads(full_key)
    own = dict(zip(version_dims, values, strict=True))
    return json.dumps([own.get(d) for d in dims])


def time_weighted(
    customer: Customer, spans: list[VersionSpan], bounds: list[datetime], dims: list[str]
) -> tuple[dict[tuple[int, str], Any], dict[str, Any]]:
    now = timezone.now()
    series: list[tuple[str, list[tuple[datetime, Decimal]], datetime]] = []
    for span in spans:
        lo, hi = max(bounds[0], span.start), min(bounds[-1], span.end, now)
        if hi <= lo:
            continue
        for full_key, samples in _samples(customer.pk, span, lo, hi).items():
            series.append((_project(span.version.group_by or [], dims, full_key), samples, hi))
    return integrate(series, bounds)


def integrate(
    series: list[tuple[str, list[tuple[datetime, Decimal]], datetime]], bounds: list[datetime]
) -> tuple[dict[tuple[int, str], Any], dict[str, Any]]:
    """Cells ``(window index, group) -> (value x hours,)`` and totals per group, from each
    gauge's samples ``(at, value)`` in time order, held until the next sample or ``hi``.
    Sums are exact (value x microseconds, in a context wide enough for any Decimal128 value
    over any period), so the answer does not depend on the order of ``series``."""
    cells: dict[tuple[int, str], Decimal] = {}
    totals: dict[str, Decimal] = {}
    with decimal.localcontext() as exact:
        exact.prec = 80  # Decimal128(12) values (ingest bounds them) x microseconds, summed
        for key, samples, hi in series:
            for i, (at, value) in enumerate(samples):
                until = samples[i + 1][0] if i + 1 < len(samples) else hi
                _add_segment(cells, totals, key, bounds, at, until, value)
    return (
        {cell: (micros / MICROS_PER_HOUR,) for cell, micros in cells.items()},
        {key: (micros / MICROS_PER_HOUR,) for key, micros in totals.items()},
    )


def _add_segment(
    cells: dict[tuple[int, str], Decimal],
    totals: dict[str, Decimal],
    key: str,
    bounds: list[datetime],
    start: datetime,
    end: datetime,
    value: Decimal,
) -> None:
    """Add value x microseconds of [start, end) to each window it overlaps."""
    index = bisect.bisect_right(bounds, start) - 1
    while start < end and index < len(bounds) - 1:
        piece_end = min(end, bounds[index + 1])
        amount = value * ((piece_end - start) // ONE_MICRO)
        cells[(index, key)] = cells.get((index, key), 0) + amount
        totals[key] = totals.get(key, 0) + amount
        start = piece_end
        index += 1
