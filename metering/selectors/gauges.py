"""``time_weighted_sum``: a gauge integrated over time, from raw events (exact for any period).

Each (customer, meter version, full group) is one gauge. A sample holds its value from its
timestamp until the next sample (ties: the later-stored event wins), and the integral stops at
the period end or now, whichever is earlier. The value before the period is the last sample
before it. Units: value x hours (e.g. GB samples -> GB-hours).
"""

from __future__ import annotations

import bisect
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
    cells: dict[tuple[int, str], Any] = {}
    totals: dict[str, Any] = {}
    for span in spans:
        lo, hi = max(bounds[0], span.start), min(bounds[-1], span.end, now)
        if hi <= lo:
            continue
        for full_key, samples in _samples(customer.pk, span, lo, hi).items():
            key = _project(span.version.group_by or [], dims, full_key)
            for i, (at, value) in enumerate(samples):
                until = samples[i + 1][0] if i + 1 < len(samples) else hi
                _add_segment(cells, totals, key, bounds, at, until, value)
    return cells, totals


def _add_segment(
    cells: dict[tuple[int, str], Any],
    totals: dict[str, Any],
    key: str,
    bounds: list[datetime],
    start: datetime,
    end: datetime,
    value: Decimal,
) -> None:
    """Add value x duration of [start, end) to each window it overlaps."""
    index = bisect.bisect_right(bounds, start) - 1
    while start < end and index < len(bounds) - 1:
        piece_end = min(end, bounds[index + 1])
        amount = value * Decimal((piece_end - start) // ONE_MICRO) / MICROS_PER_HOUR
        cell = cells.get((index, key))
        cells[(index, key)] = ((cell[0] if cell else 0) + amount,)
        total = totals.get(key)
        totals[key] = ((total[0] if total else 0) + amount,)
        start = piece_end
        index += 1
