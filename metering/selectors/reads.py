"""Where the usage selector reads its rows: PostgreSQL (the default) or the configured usage
store's ``reads`` (``metering.stores.columnar.reads``). Every reader produces the same row
shapes, so ``metering.selectors.usage`` and ``gauges`` combine them with one piece of Python
and usage pages, previews and invoices get equal answers whichever store is configured."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from django.db import connection

from metering.meter_sql import VersionSpan
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


def usage_reads() -> UsageReads:
    """The configured store's reads (PostgreSQL's when the store keeps none of its own)."""
    reads = getattr(event_store(), "reads", None)
    return reads if reads is not None else PostgresReads()
