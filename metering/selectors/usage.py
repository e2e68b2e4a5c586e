"""The one usage selector: the usage API, the usage pages and invoicing all read through here.

Periods are half-open ``[start, end)`` with aware datetimes. Values come from rollups (15-minute
buckets, so hour/day/month windows in every real time zone are whole buckets) and from raw
events only for buckets a boundary cuts (a period starting at 10:07), so results are exact for
any boundaries. ``unique_count`` counts distinct values over each window and over the whole
period (never a sum of per-bucket counts); ``time_weighted_sum`` integrates the gauge from raw
events (value x hours, each sample holding until the next one, and at most until now).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from accounts.models import Customer
from billingsite.errors import AppError
from metering.meter_sql import VersionSpan, group_key, spans_for
from metering.models import Aggregation, Meter
from metering.selectors.gauges import time_weighted
from metering.selectors.reads import usage_reads
from metering.selectors.windows import edge_buckets, window_boundaries

ZERO = Decimal(0)


@dataclass(frozen=True)
class UsagePoint:
    start: datetime
    end: datetime
    value: Decimal | None
    group: dict[str, Any] | None


@dataclass(frozen=True)
class UsageGroup:
    group: dict[str, Any] | None
    value: Decimal | None


@dataclass(frozen=True)
class Usage:
    """``total`` over the period, and per-group values when grouped."""

    meter: str
    start: datetime
    end: datetime
    total: Decimal | None
    groups: list[UsageGroup]


@dataclass(frozen=True)
class UsageSeries(Usage):
    window: str
    tz: str
    points: list[UsagePoint]


def usage_for_period(
    *,
    customer: Customer,
    meter: Meter,
    start: datetime,
    end: datetime,
    group_by: list[str] | None = None,
) -> Usage:
    """Usage of ``meter`` by ``customer`` in ``[start, end)``; per group when ``group_by``."""
    series = _compute(customer, meter, start, end, None, ZoneInfo("UTC"), group_by or [])
    return Usage(meter.key, series.start, series.end, series.total, series.groups)


def usage_for_customers(
    *,
    customer_ids: list[int],
    meter: Meter,
    start: datetime,
    end: datetime,
    group_by: list[str] | None = None,
) -> dict[int, Usage]:
    """``usage_for_period`` for many customers at once: {customer id: Usage}, every id present.

    count/sum/max/latest meters are read with one query per meter version for all the
    customers (the billing run reads a chunk this way); unique counts and time-weighted sums
    fall back to one read per customer. The results equal ``usage_for_period``'s."""
    zone = ZoneInfo("UTC")
    dims = group_by or []
    bounds = window_boundaries(start, end, None, zone)
    spans = [
        s
        for s in spans_for(list(meter.versions.all()))
        if s.start < bounds[-1] and s.end > bounds[0]
    ]
    _check_dims(spans, dims)
    aggregation = spans[-1].aggregation if spans else Aggregation.COUNT
    if aggregation in (Aggregation.TIME_WEIGHTED_SUM, Aggregation.UNIQUE_COUNT):
        customers = Customer.objects.in_bulk(customer_ids)
        return {
            pk: usage_for_period(
                customer=customers[pk], meter=meter, start=start, end=end, group_by=group_by
            )
            for pk in customer_ids
        }
    per_customer = _rolled_many(customer_ids, spans, bounds, dims, aggregation)
    result = {}
    for pk in customer_ids:
        cells, totals = per_customer.get(pk, ({}, {}))
        series = _present(meter, bounds, None, zone, dims, aggregation, cells, totals)
        result[pk] = Usage(meter.key, series.start, series.end, series.total, series.groups)
    return result


def usage_series(
    *,
    customer: Customer,
    meter: Meter,
    start: datetime,
    end: datetime,
    window: str = "day",
    tz: str | None = None,
    group_by: list[str] | None = None,
) -> UsageSeries:
    """Per-window values (windows in ``tz``, default the customer's time zone) and the total."""
    zone_name = tz or customer.timezone
    try:
        zone = ZoneInfo(zone_name)
    except (ValueError, KeyError) as exc:
        raise AppError(
            "validation_error",
            f"{zone_name!r} is not an IANA time zone.",
            details={"tz": "e.g. Europe/Paris"},
        ) from exc
    return _compute(customer, meter, start, end, window, zone, group_by or [])


def _compute(
    customer: Customer,
    meter: Meter,
    start: datetime,
    end: datetime,
    window: str | None,
    zone: ZoneInfo,
    dims: list[str],
) -> UsageSeries:
    bounds = window_boundaries(start, end, window, zone)
    spans = [
        s
        for s in spans_for(list(meter.versions.all()))
        if s.start < bounds[-1] and s.end > bounds[0]
    ]
    _check_dims(spans, dims)
    aggregation = spans[-1].aggregation if spans else Aggregation.COUNT
    if aggregation == Aggregation.TIME_WEIGHTED_SUM:
        cells, totals = time_weighted(customer, spans, bounds, dims)
    elif aggregation == Aggregation.UNIQUE_COUNT:
        cells, totals = _unique(customer, spans, bounds, dims)
    else:
        cells, totals = _rolled(customer, spans, bounds, dims, aggregation)
    return _present(meter, bounds, window, zone, dims, aggregation, cells, totals)


def _check_dims(spans: list[VersionSpan], dims: list[str]) -> None:
    known = {d for s in spans for d in (s.version.group_by or [])}
    unknown = [d for d in dims if d not in known]
    if unknown or len(set(dims)) != len(dims):
        raise AppError(
            "validation_error",
            "group_by names dimensions the meter does not have.",
            details={"group_by": f"Choose from {sorted(known) or 'none'}."},
        )


Cells = dict[tuple[int, str], Any]
Totals = dict[str, Any]


def _rolled(
    customer: Customer,
    spans: list[VersionSpan],
    bounds: list[datetime],
    dims: list[str],
    aggregation: str,
) -> tuple[Cells, Totals]:
    """count/sum/max/latest: partial aggregates per (window, group), combined in Python."""
    edges = edge_buckets(bounds)
    cells: Cells = {}
    reads = usage_reads()
    for span in spans:
        if span.aggregation != aggregation:
            continue  # a version with another aggregation cannot be combined; skipped
        for bucket, group, value, latest_at, latest_pk in reads.partials(
            customer.pk, span, bounds, edges, dims
        ):
            key = (bucket - 1, group_key(group))
            cells[key] = _combine(aggregation, cells.get(key), (value, latest_at, latest_pk))
    return cells, _totals(aggregation, cells)


def _rolled_many(
    customer_ids: list[int],
    spans: list[VersionSpan],
    bounds: list[datetime],
    dims: list[str],
    aggregation: str,
) -> dict[int, tuple[Cells, Totals]]:
    """``_rolled`` for many customers with one query per span: {customer id: (cells, totals)}
    for the customers that have any usage."""
    edges = edge_buckets(bounds)
    cells_by: dict[int, Cells] = {}
    reads = usage_reads()
    for span in spans:
        if span.aggregation != aggregation:
            continue
        for pk, bucket, group, value, latest_at, latest_pk in reads.partials(
            customer_ids, span, bounds, edges, dims
        ):
            cells = cells_by.setdefault(pk, {})
            key = (bucket - 1, group_key(group))
            cells[key] = _combine(aggregation, cells.get(key), (value, latest_at, latest_pk))
    return {pk: (cells, _totals(aggregation, cells)) for pk, cells in cells_by.items()}


def _totals(aggregation: str, cells: Cells) -> Totals:
    totals: Totals = {}
    for (_, group), part in cells.items():
        totals[group] = _combine(aggregation, totals.get(group), part)
    return totals


def _combine(aggregation: str, acc: Any, part: Any) -> Any:
    if acc is None:
        return part
    if aggregation in (Aggregation.COUNT, Aggregation.SUM):
        return (acc[0] + part[0], None, None)
    if aggregation == Aggregation.MAX:
        return max(acc, part, key=lambda p: p[0])
    return max(acc, part, key=lambda p: (p[1], p[2]))  # latest: by (timestamp, event pk)


def _unique(
    customer: Customer, spans: list[VersionSpan], bounds: list[datetime], dims: list[str]
) -> tuple[Cells, Totals]:
    rows = usage_reads().unique(customer.pk, spans, bounds, edge_buckets(bounds), dims)
    cells: Cells = {}
    totals: Totals = {}
    for bucket, group, kind, count in rows:
        if kind == 0:
            cells[(bucket - 1, group_key(group))] = (Decimal(count),)
        elif kind == 1:
            totals[group_key(group)] = (Decimal(count),)
        else:
            totals["*"] = (Decimal(count),)
    return cells, totals


def _present(
    meter: Meter,
    bounds: list[datetime],
    window: str | None,
    zone: ZoneInfo,
    dims: list[str],
    aggregation: str,
    cells: Cells,
    totals: Totals,
) -> UsageSeries:
    empty = None if aggregation in (Aggregation.MAX, Aggregation.LATEST) else ZERO
    points: list[UsagePoint] = []
    for i in range(len(bounds) - 1):
        keys = sorted(k for k in cells if k[0] == i) if dims else [(i, "[]")]
        for key in keys:
            part = cells.get(key)
            points.append(
                UsagePoint(
                    bounds[i],
                    bounds[i + 1],
                    _clean(part[0]) if part else empty,
                    _group(dims, key[1]),
                )
            )
    groups = [
        UsageGroup(_group(dims, g), _clean(v[0])) for g, v in sorted(totals.items()) if g != "*"
    ]
    return UsageSeries(
        meter=meter.key,
        start=bounds[0],
        end=bounds[-1],
        total=_total(aggregation, totals, empty),
        groups=groups if dims else [],
        window=window or "period",
        tz=str(zone.key),
        points=points,
    )


def _total(aggregation: str, totals: Totals, empty: Decimal | None) -> Decimal | None:
    if aggregation == Aggregation.UNIQUE_COUNT:
        overall = totals.get("*")
        return _clean(overall[0]) if overall else ZERO
    parts = [v for g, v in totals.items() if g != "*"]
    if not parts:
        return empty
    acc = None
    for part in parts:
        acc = _combine(
            aggregation if aggregation != Aggregation.TIME_WEIGHTED_SUM else Aggregation.SUM,
            acc,
            part,
        )
    return _clean(acc[0]) if acc else empty


def _group(dims: list[str], key: str) -> dict[str, Any] | None:
    if not dims:
        return None
    return dict(zip(dims, json.loads(key), strict=True))


def _clean(value: Decimal | None) -> Decimal | None:
    """Drop trailing zeros of the rollup column's scale (12 places) without exponent form."""
    if value is None:
        return None
    value = Decimal(value)
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()
