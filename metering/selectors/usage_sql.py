"""SQL for the usage selector: rollups for whole buckets, raw events for the buckets a boundary
cuts. Each query returns window numbers from ``width_bucket`` over the boundary array (1 =
first window)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from metering.meter_sql import (
    BUCKET,
    VersionSpan,
    filter_sql,
    group_sql,
    path,
    project_group_sql,
    value_sql,
)
from metering.models import Aggregation, MeterVersion
from metering.selectors.windows import floor_bucket

_ROLLUP_AGG: dict[str, str] = {
    Aggregation.COUNT: "sum(r.value)",
    Aggregation.SUM: "sum(r.value)",
    Aggregation.MAX: "max(r.value)",
    Aggregation.LATEST: "(array_agg(r.value ORDER BY r.latest_at DESC, r.latest_pk DESC))[1]",
}
_RAW_AGG: dict[str, str] = {
    Aggregation.COUNT: "count(*)::numeric",
    Aggregation.SUM: "sum({v})",
    Aggregation.MAX: "max({v})",
    Aggregation.LATEST: "(array_agg({v} ORDER BY e.timestamp DESC, e.id DESC))[1]",
}


def raw_group_sql(version: MeterVersion, dims: list[str]) -> tuple[str, list[Any]]:
    """The requested dims read straight from an event (null when the version lacks one)."""
    if not dims:
        return "'[]'::jsonb", []
    own = version.group_by or []
    parts: list[str] = []
    params: list[Any] = []
    for dim in dims:
        if dim in own:
            parts.append("coalesce(e.properties #> %s, 'null'::jsonb)")
            params.append(path(dim))
        else:
            parts.append("'null'::jsonb")
    return f"jsonb_build_array({', '.join(parts)})", params


def _clip(span: VersionSpan, bounds: list[datetime]) -> tuple[datetime, datetime]:
    return max(bounds[0], span.start), min(bounds[-1], span.end)


Customers = int | list[int]
"""One customer id, or a list of them for a batched read (the billing run reads a whole chunk
of customers at once; rows then start with the customer id)."""


def _customer_sql(alias: str, customers: Customers) -> tuple[str, list[Any]]:
    if isinstance(customers, list):
        return f"{alias}.customer_id = ANY(%s::bigint[])", [customers]
    return f"{alias}.customer_id = %s", [customers]


def raw_source(
    customers: Customers, span: VersionSpan, bounds: list[datetime], edges: list[datetime]
) -> tuple[str, list[Any]] | None:
    """``FROM … WHERE …`` for this span's events inside the edge buckets: one timestamp range
    per edge bucket, so the (customer, type, timestamp) index reads only those minutes."""
    lo, hi = _clip(span, bounds)
    ranges: list[str] = []
    range_params: list[Any] = []
    for edge in edges:
        start, end = max(edge, lo), min(edge + BUCKET, hi)
        if start < end:
            ranges.append("(e.timestamp >= %s AND e.timestamp < %s)")
            range_params += [start, end]
    if not ranges:
        return None
    where, params = filter_sql(span.version)
    who, who_params = _customer_sql("e", customers)
    return (
        f" FROM metering_usageevent e WHERE {who} AND ({' OR '.join(ranges)}) AND {where}",
        [*who_params, *range_params, *params],
    )


def _rollup_where(
    customers: Customers,
    span: VersionSpan,
    bounds: list[datetime],
    edges: list[datetime],
    table: str,
) -> tuple[str, list[Any]]:
    lo, hi = _clip(span, bounds)
    who, who_params = _customer_sql("r", customers)
    sql = (
        f" FROM {table} r WHERE {who} AND r.meter_version_id = %s AND r.hour >= %s AND r.hour < %s"
    )
    params: list[Any] = [*who_params, span.version.pk, floor_bucket(lo), hi]
    if edges:
        sql += " AND NOT (r.hour = ANY(%s::timestamptz[]))"
        params.append(edges)
    return sql, params


def partials(
    customers: Customers,
    span: VersionSpan,
    bounds: list[datetime],
    edges: list[datetime],
    dims: list[str],
) -> tuple[str, list[Any]]:
    """Rows ``(window, group, value, latest_at, latest_pk)`` for a count/sum/max/latest span,
    each preceded by the customer id when ``customers`` is a list."""
    version = span.version
    agg = version.aggregation
    group = project_group_sql(version, dims, "r.group_values")
    many = isinstance(customers, list)
    who_r, who_e, by = (
        ("r.customer_id, ", "e.customer_id, ", "1, 2, 3") if many else ("", "", "1, 2")
    )
    where, where_params = _rollup_where(customers, span, bounds, edges, "metering_hourlyrollup")
    sql = (
        f"SELECT {who_r}width_bucket(r.hour, %s::timestamptz[]), {group},"
        f" {_ROLLUP_AGG[agg]}, max(r.latest_at),"
        " (array_agg(r.latest_pk ORDER BY r.latest_at DESC, r.latest_pk DESC))[1]"
        f"{where} GROUP BY {by}"
    )
    params: list[Any] = [bounds, *where_params]
    raw = raw_source(customers, span, bounds, edges)
    if raw is not None:
        source, source_params = raw
        value, value_params = value_sql(version)
        raw_group, group_params = raw_group_sql(version, dims)
        uses_value = "{v}" in _RAW_AGG[agg]
        sql += (
            f" UNION ALL SELECT {who_e}width_bucket(e.timestamp, %s::timestamptz[]),"
            f" {raw_group}, {_RAW_AGG[agg].format(v=value)}, max(e.timestamp),"
            " (array_agg(e.id ORDER BY e.timestamp DESC, e.id DESC))[1]"
            f"{source} GROUP BY {by}"
        )
        params += [bounds, *group_params, *(value_params if uses_value else []), *source_params]
    return sql, params


def unique_counts(
    customer_id: int,
    spans: list[VersionSpan],
    bounds: list[datetime],
    edges: list[datetime],
    dims: list[str],
) -> tuple[str, list[Any]]:
    """Rows ``(window, group, kind, count)``; kind 0 = per window and group, 1 = per group over
    the period, 2 = overall. Distinct values are unioned across versions and hours."""
    parts: list[str] = []
    params: list[Any] = []
    for span in spans:
        if span.aggregation != Aggregation.UNIQUE_COUNT:
            continue
        group = project_group_sql(span.version, dims, "r.group_values")
        where, where_params = _rollup_where(
            customer_id, span, bounds, edges, "metering_uniquevalue"
        )
        parts.append(f"SELECT r.hour AS t, {group} AS g, r.value AS v{where}")
        params += where_params
        raw = raw_source(customer_id, span, bounds, edges)
        if raw is not None:
            source, source_params = raw
            value, value_params = value_sql(span.version)
            raw_group, group_params = raw_group_sql(span.version, dims)
            parts.append(f"SELECT e.timestamp, {raw_group}, {value}{source}")
            params += [*group_params, *value_params, *source_params]
    if not parts:
        return "SELECT NULL::int, NULL::jsonb, 2, 0", []
    inner = " UNION ALL ".join(parts)
    # Fragments are fixed SQL from meter_sql; every value is a parameter.
    sql = (
        "SELECT w, CASE WHEN GROUPING(g) = 0 THEN g END,"  # noqa: S608
        " CASE WHEN GROUPING(w) = 0 THEN 0 WHEN GROUPING(g) = 0 THEN 1 ELSE 2 END,"
        " count(DISTINCT v)"
        f" FROM (SELECT width_bucket(t, %s::timestamptz[]) AS w, g, v FROM ({inner}) AS u) AS x"
        " GROUP BY GROUPING SETS ((w, g), (g), ())"
    )
    return sql, [bounds, *params]


def gauge_samples(
    customer_id: int, span: VersionSpan, lo: datetime, hi: datetime
) -> tuple[str, list[Any]]:
    """Rows ``(group, value, at, pk)``: the last sample per group before ``lo``, then every
    sample in ``[lo, hi)`` (``metering.selectors.gauges`` integrates them)."""
    version = span.version
    where, where_params = filter_sql(version)
    value, value_params = value_sql(version)
    group, group_params = group_sql(version)
    select = f"SELECT {group} AS g, {value} AS v, e.timestamp AS t, e.id AS pk"
    base = f" FROM metering_usageevent e WHERE e.customer_id = %s AND {where}"
    # Fragments are fixed SQL from meter_sql; every value is a parameter.
    sql = (
        f"SELECT * FROM (SELECT DISTINCT ON (g) g, v, t, pk FROM ({select}{base}"  # noqa: S608
        f" AND e.timestamp < %s) AS older ORDER BY g, t DESC, pk DESC) AS b"
        f" UNION ALL {select}{base} AND e.timestamp >= %s AND e.timestamp < %s"
    )
    head = [*group_params, *value_params, customer_id, *where_params]
    return sql, [*head, lo, *head, lo, hi]
