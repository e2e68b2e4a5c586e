"""The usage reads of ``metering.selectors.usage`` and ``gauges`` on the columnar store: the
same rows, the same shapes, as the PostgreSQL SQL in ``metering.selectors.usage_sql`` (rollups
for whole 15-minute buckets, raw events for the buckets a boundary cuts), so the selector's
Python combines them identically and every reader gets equal answers.

Window numbers follow ``width_bucket``: the number of boundaries at or before the instant.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from metering.meter_sql import BUCKET, VersionSpan
from metering.models import Aggregation
from metering.selectors.windows import floor_bucket
from metering.stores.columnar import schema
from metering.stores.columnar.engine import Row


class _Store(Protocol):
    """What the reads need of ``metering.stores.columnar.store.ColumnarStore``."""

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]: ...

    def sync_views(self) -> None: ...

    def has_view(self, version_pk: int) -> bool: ...


_MERGED: dict[str, str] = {
    Aggregation.COUNT: "toDecimal128(countMerge(r.event_count), 12)",
    Aggregation.SUM: "sumMerge(r.value_sum)",
    Aggregation.MAX: "maxMerge(r.value_max)",
    Aggregation.LATEST: "argMaxMerge(r.latest_value)",
}
_RAW: dict[str, str] = {
    Aggregation.COUNT: "toDecimal128(count(), 12)",
    Aggregation.SUM: "sum(e.v)",
    Aggregation.MAX: "max(e.v)",
    Aggregation.LATEST: "argMax(e.v, (e.timestamp, e.row_id))",
}
_RANGE = "timestamp >= {lo:DateTime64(6, 'UTC')} AND timestamp < {hi:DateTime64(6, 'UTC')}"
WINDOW = "arrayCount(b -> b <= toDateTime64({t}, 6, 'UTC'), {{bounds:Array(DateTime64(6, 'UTC'))}})"


def _who(customers: int | list[int]) -> tuple[str, dict[str, Any]]:
    if isinstance(customers, list):
        return "has({c:Array(UInt64)}, customer_id)", {"c": customers}
    return "customer_id = {c:UInt64}", {"c": customers}


def _events(version_span: VersionSpan, extra: str) -> str:
    version = version_span.version
    return (
        f" FROM (SELECT *, {schema.value_expr(version)} AS v FROM events AS e"
        f" WHERE {extra} AND {schema.filter_expr(version)}) AS e WHERE e.v IS NOT NULL"
    )


def _edge_ranges(
    span: VersionSpan, bounds: list[datetime], edges: list[datetime]
) -> tuple[str, dict[str, Any]] | None:
    lo, hi = max(bounds[0], span.start), min(bounds[-1], span.end)
    parts: list[str] = []
    params: dict[str, Any] = {}
    for i, edge in enumerate(edges):
        start, end = max(edge, lo), min(edge + BUCKET, hi)
        if start < end:
            parts.append(
                f"(timestamp >= {{s{i}:DateTime64(6, 'UTC')}} AND"
                f" timestamp < {{t{i}:DateTime64(6, 'UTC')}})"
            )
            params |= {f"s{i}": start, f"t{i}": end}
    return ("(" + " OR ".join(parts) + ")", params) if parts else None


def _projector(own: list[str], dims: list[str]) -> Callable[[str], str]:
    """Stored group values -> the requested dims, in Python: rows with equal projections are
    combined by the selector (cheaper than JSON functions on every rollup row in the engine)."""
    if not dims:
        return lambda _g: "[]"
    if dims == own:
        return lambda g: g

    def project(g: str) -> str:
        values = dict(zip(own, json.loads(g), strict=True))
        return json.dumps([values.get(d) for d in dims])

    return project


class ColumnarReads:
    def __init__(self, store: _Store) -> None:
        self.store = store

    def _query(self, sql: str, params: dict[str, Any]) -> list[Row]:
        versions = [v for k, v in params.items() if k == "v" or (k[0] == "v" and k[1:].isdigit())]
        if not all(self.store.has_view(int(v)) for v in versions):
            self.store.sync_views()  # a version read before its view exists: build it first
        return self.store.query(sql, params)

    def _bucket_where(
        self, customers: int | list[int], span: VersionSpan, bounds: list[datetime],
        edges: list[datetime],
    ) -> tuple[str, dict[str, Any]]:  # fmt: skip
        lo, hi = max(bounds[0], span.start), min(bounds[-1], span.end)
        who, params = _who(customers)
        return (
            f" WHERE {who} AND meter_version_id = {{v:UInt64}}"
            " AND bucket >= {lo:DateTime64(6, 'UTC')} AND bucket < {hi:DateTime64(6, 'UTC')}"
            " AND NOT has({edges:Array(DateTime64(6, 'UTC'))}, toDateTime64(bucket, 6, 'UTC'))",
            {**params, "v": span.version.pk, "lo": floor_bucket(lo), "hi": hi,
             "edges": edges},
        )  # fmt: skip

    def partials(
        self, customers: int | list[int], span: VersionSpan, bounds: list[datetime],
        edges: list[datetime], dims: list[str],
    ) -> list[Row]:  # fmt: skip
        """Rows ``([customer,] window, group, value, latest_at, latest_pk)``."""
        agg, many = span.aggregation, isinstance(customers, list)
        head = "customer_id, " if many else ""
        by = "customer_id, w, g" if many else "w, g"
        where, params = self._bucket_where(customers, span, bounds, edges)
        params["bounds"] = bounds
        # Only "latest" combines partials by (time, row id); merging those tuple states is the
        # costly part of a read, so other aggregations skip it (the selector ignores them).
        latest_r, latest_e = "NULL, NULL", "NULL, NULL"
        if agg == Aggregation.LATEST:
            latest_r = (
                "tupleElement(maxMerge(r.latest_key), 1), tupleElement(maxMerge(r.latest_key), 2)"
            )
            latest_e = "max(e.timestamp), argMax(e.row_id, (e.timestamp, e.row_id))"
        rows = self._query(
            f"SELECT {head}{WINDOW.format(t='r.bucket')} AS w,"
            f" r.group_values AS g, {_MERGED[agg]}, {latest_r}"
            f" FROM usage_rollup AS r{where} GROUP BY {by}",
            params,
        )
        at = 2 if many else 1  # the group column
        project = _projector(span.version.group_by or [], dims)
        rows = [(*r[:at], project(r[at]), *r[at + 1 :]) for r in rows]
        ranges = _edge_ranges(span, bounds, edges)
        if ranges is not None:
            who, who_params = _who(customers)
            rows += self._query(
                f"SELECT {head}{WINDOW.format(t='e.timestamp')} AS w,"
                f" {schema.group_expr(span.version, dims)} AS g, {_RAW[agg]}, {latest_e}"
                f"{_events(span, f'{who} AND {ranges[0]}')} GROUP BY {by}",
                {**who_params, **ranges[1], "bounds": bounds},
            )
        return rows

    def unique(
        self, customer_id: int, spans: Sequence[VersionSpan], bounds: list[datetime],
        edges: list[datetime], dims: list[str],
    ) -> list[Row]:  # fmt: skip
        """Rows ``(window, group, kind, count)`` as ``usage_sql.unique_counts`` returns them."""
        parts: list[str] = []
        params: dict[str, Any] = {"bounds": bounds}
        for n, span in enumerate(s for s in spans if s.aggregation == Aggregation.UNIQUE_COUNT):
            where, where_params = self._bucket_where(customer_id, span, bounds, edges)
            for key, value in where_params.items():
                where = where.replace(f"{{{key}:", f"{{{key}{n}:")
                params[f"{key}{n}"] = value
            parts.append(
                f"SELECT r.bucket AS t0, {schema.project_expr(span.version, dims)} AS g,"
                f" r.value AS v FROM unique_values AS r{where}"
            )
            ranges = _edge_ranges(span, bounds, edges)
            if ranges is not None:
                cond, range_params = ranges
                for key, value in range_params.items():
                    cond = cond.replace(f"{{{key}:", f"{{{key}_{n}:")
                    params[f"{key}_{n}"] = value
                parts.append(
                    f"SELECT e.timestamp AS t0, {schema.group_expr(span.version, dims)} AS g,"
                    " e.v AS v"
                    f"{_events(span, f'customer_id = {{cu:UInt64}} AND {cond}')}"
                )
                params["cu"] = customer_id
        if not parts:
            return [(None, None, 2, 0)]
        inner = " UNION ALL ".join(
            f"SELECT toDateTime64(t0, 6, 'UTC') AS t, g, v FROM ({p})" for p in parts
        )
        inner = f"(SELECT {WINDOW.format(t='t')} AS w, g, v FROM ({inner}))"
        rows = [
            (w, g, 0, n)
            for w, g, n in self._query(
                f"SELECT w, g, uniqExact(v) FROM {inner} GROUP BY w, g", params
            )
        ]
        rows += [
            (None, g, 1, n)
            for g, n in self._query(f"SELECT g, uniqExact(v) FROM {inner} GROUP BY g", params)
        ]
        rows += [
            (None, None, 2, n) for (n,) in self._query(f"SELECT uniqExact(v) FROM {inner}", params)
        ]
        return rows  # fmt: skip

    def gauge_samples(
        self, customer_id: int, span: VersionSpan, lo: datetime, hi: datetime
    ) -> list[Row]:
        """Rows ``(group, value, at, pk)``: the last sample per group before ``lo``, then
        every sample in ``[lo, hi)``, as ``metering.selectors.gauges`` reads them."""
        version = span.version
        group = schema.group_expr(version)
        source = _events(span, "customer_id = {c:UInt64}")
        params = {"c": customer_id, "lo": lo, "hi": hi}
        older = self.store.query(
            f"SELECT {group} AS g, argMax(e.v, (e.timestamp, e.row_id)),"
            " tupleElement(max((e.timestamp, e.row_id)), 1),"
            " tupleElement(max((e.timestamp, e.row_id)), 2)"
            f"{source} AND e.timestamp < {{lo:DateTime64(6, 'UTC')}} GROUP BY g",
            params,
        )
        inside = self.store.query(
            f"SELECT {group}, e.v, e.timestamp, e.row_id{source}"
            " AND e.timestamp >= {lo:DateTime64(6, 'UTC')}"
            " AND e.timestamp < {hi:DateTime64(6, 'UTC')}",
            params,
        )
        return [(g, Decimal(v), at, pk) for g, v, at, pk in [*older, *inside]]

    def late_intervals(
        self, customer_id: int, intervals: Sequence[tuple[datetime, datetime]]
    ) -> set[int]:
        """Which intervals hold an event of the customer flagged late (``events.is_late``,
        set when the event is stored or adopted): one pass over the customer's range."""
        rows = self.store.query(
            "SELECT arrayJoin(arrayFilter(i -> timestamp >= {lo:Array(DateTime64(6, 'UTC'))}[i]"
            " AND timestamp < {hi:Array(DateTime64(6, 'UTC'))}[i],"
            " range(1, length({lo:Array(DateTime64(6, 'UTC'))}) + 1))) AS i"
            " FROM events WHERE customer_id = {c:UInt64} AND is_late GROUP BY i",
            {"c": customer_id, "lo": [lo for lo, _ in intervals],
             "hi": [hi for _, hi in intervals]},
        )  # fmt: skip
        return {int(i) - 1 for (i,) in rows}

    def event_values(
        self, customer_id: int, span: VersionSpan, lo: datetime, hi: datetime,
        after: tuple[datetime, int] | None, limit: int,
    ) -> list[Row]:  # fmt: skip
        """Rows ``(timestamp, row id, value)`` in event order, as PostgreSQL's reads give them."""
        keyset = " AND (e.timestamp, e.row_id) > ({at:DateTime64(6, 'UTC')}, {pk:UInt64})"
        params: dict[str, Any] = {"c": customer_id, "lo": lo, "hi": hi, "n": limit}
        if after is not None:
            params |= {"at": after[0], "pk": after[1]}
        return self.store.query(
            "SELECT e.timestamp, e.row_id, e.v"
            + _events(span, f"customer_id = {{c:UInt64}} AND {_RANGE}")
            + (keyset if after is not None else "")
            + " ORDER BY e.timestamp, e.row_id LIMIT {n:UInt64}",
            params,
        )

    def event_totals(
        self, customer_id: int, span: VersionSpan, lo: datetime, hi: datetime
    ) -> tuple[int, Decimal]:
        ((count, total),) = self.store.query(
            "SELECT count(), sum(e.v)" + _events(span, f"customer_id = {{c:UInt64}} AND {_RANGE}"),
            {"c": customer_id, "lo": lo, "hi": hi},
        )
        return int(count), Decimal(total or 0)
