"""Where the usage selector reads its rows: PostgreSQL (the default) or the configured usage
store's ``reads`` (``metering.stores.columnar.reads``). Every reader produces the same row
shapes, so ``metering.selectors.usage`` and ``gauges`` combine them with one piece of Python
and usage pages, previews and invoices get equal answers whichever store is configured."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from django.db import connection

from metering.meter_sql import VersionSpan, filter_sql, value_sql
from metering.selectors import usage_sql
from metering.stores import event_store

Row = tuple[Any, ...]


class UsageReads(Protocol):
    def partials(
        self,
        customers: int | list[int],
        span: VersionSpan,
        bounds: list[datetime],
        edges: list[datetime],
        dims: list[str],
    ) -> list[Row]: ...

    def unique(
        self,
        customer_id: int,
        spans: Sequence[VersionSpan],
        bounds: list[datetime],
        edges: list[datetime],
        dims: list[str],
    ) -> list[Row]: ...

    def gauge_samples(
        self, customer_id: int, span: VersionSpan, lo: datetime, hi: datetime
    ) -> list[Row]: ...

    def late_intervals(
        self, customer_id: int, intervals: Sequence[tuple[datetime, datetime]]
    ) -> set[int]:
        """Indexes of the half-open intervals holding an event of the customer flagged late."""
        ...

    def event_values(
        self, customer_id: int, span: VersionSpan, lo: datetime, hi: datetime,
        after: tuple[datetime, int] | None, limit: int,
    ) -> list[Row]:  # fmt: skip
        """Rows ``(timestamp, row id, value)`` of the events ``span`` selects in ``[lo, hi)``,
        in (timestamp, row id) order after the keyset ``after``, at most ``limit``."""
        ...

    def event_totals(
        self, customer_id: int, span: VersionSpan, lo: datetime, hi: datetime
    ) -> tuple[int, Decimal]:
        """Count and sum of those events' values."""
        ...


class PostgresReads:
    def _fetch(self, sql: str, params: list[Any]) -> list[Row]:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def partials(
        self,
        customers: int | list[int],
        span: VersionSpan,
        bounds: list[datetime],
        edges: list[datetime],
        dims: list[str],
    ) -> list[Row]:
        return self._fetch(*usage_sql.partials(customers, span, bounds, edges, dims))

    def unique(
        self,
        customer_id: int,
        spans: Sequence[VersionSpan],
        bounds: list[datetime],
        edges: list[datetime],
        dims: list[str],
    ) -> list[Row]:
        return self._fetch(*usage_sql.unique_counts(customer_id, list(spans), bounds, edges, dims))

    def gauge_samples(
        self, customer_id: int, span: VersionSpan, lo: datetime, hi: datetime
    ) -> list[Row]:
        return self._fetch(*usage_sql.gauge_samples(customer_id, span, lo, hi))

    def late_intervals(
        self, customer_id: int, intervals: Sequence[tuple[datetime, datetime]]
    ) -> set[int]:
        """One query over the customer's late events (the partial ``usageevent_late``
        index): the cost follows the number of late events, not of intervals or events."""
        rows = self._fetch(
            "SELECT k.i FROM unnest(%s::timestamptz[], %s::timestamptz[])"
            " WITH ORDINALITY AS k(lo, hi, i) WHERE EXISTS (SELECT 1 FROM metering_usageevent e"
            " WHERE e.customer_id = %s AND e.is_late AND e.timestamp >= k.lo"
            " AND e.timestamp < k.hi)",
            [[lo for lo, _hi in intervals], [hi for _lo, hi in intervals], customer_id],
        )
        return {int(row[0]) - 1 for row in rows}

    def event_values(
        self, customer_id: int, span: VersionSpan, lo: datetime, hi: datetime,
        after: tuple[datetime, int] | None, limit: int,
    ) -> list[Row]:  # fmt: skip
        where, where_params = filter_sql(span.version)
        value, value_params = value_sql(span.version)
        keyset = " AND (e.timestamp, e.id) > (%s, %s)" if after else ""
        return self._fetch(
            f"SELECT e.timestamp, e.id, {value} FROM metering_usageevent e"  # noqa: S608
            f" WHERE e.customer_id = %s AND e.timestamp >= %s AND e.timestamp < %s"
            f" AND {where}{keyset} ORDER BY e.timestamp, e.id LIMIT %s",
            [*value_params, customer_id, lo, hi, *where_params, *(after or ()), limit],
        )

    def event_totals(
        self, customer_id: int, span: VersionSpan, lo: datetime, hi: datetime
    ) -> tuple[int, Decimal]:
        where, where_params = filter_sql(span.version)
        value, value_params = value_sql(span.version)
        ((count, total),) = self._fetch(
            f"SELECT count(*), coalesce(sum({value}), 0) FROM metering_usageevent e"  # noqa: S608
            f" WHERE e.customer_id = %s AND e.timestamp >= %s AND e.timestamp < %s"
            f" AND {where}",
            [*value_params, customer_id, lo, hi, *where_params],
        )
        return int(count), Decimal(total)


def usage_reads() -> UsageReads:
    """The configured store's reads (PostgreSQL's when the store keeps none of its own)."""
    reads = getattr(event_store(), "reads", None)
    return reads if reads is not None else PostgresReads()
