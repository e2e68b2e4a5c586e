"""Operator checks for DESIGN.md invariants 1 and 2, for a ``check_invariants`` command.

``rollup_mismatches`` recomputes every rolled-up meter version from raw events in one
REPEATABLE READ snapshot (events still waiting in the rollup queue are excluded, as the worker
has not applied them yet) and lists the buckets whose stored rollup differs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from billingsite.invariants import Violation, invariant
from metering.eventlog.health import event_log_consumed  # noqa: F401  (registers the check)
from metering.meter_sql import (
    VersionSpan,
    bucket_sql,
    filter_sql,
    group_sql,
    spans_for,
    value_sql,
)
from metering.models import Aggregation, MeterVersion, RollupQueue
from metering.partitions import archived_through, partitions_ready  # noqa: F401
from metering.services.rollups import METER_DEFINITIONS_LOCK
from metering.stores import event_store
from metering.stores.columnar.checks import (
    attributed_events_adopted,
    ids_stored_once,
    rollups_match_events,
)
from metering.stores.columnar.store import ColumnarStore

_EXPECTED_AGG: dict[str, str] = {
    Aggregation.COUNT: "count(*)::numeric",
    Aggregation.SUM: "sum({v})",
    Aggregation.MAX: "max({v})",
    Aggregation.LATEST: "(array_agg({v} ORDER BY e.timestamp DESC, e.id DESC))[1]",
}


def _expected_sql(span: VersionSpan, since: datetime | None) -> tuple[str, list[Any]]:
    version = span.version
    where, where_params = filter_sql(version)
    value, value_params = value_sql(version)
    group, group_params = group_sql(version)
    lower = max(span.start, since) if since else span.start
    tail = (
        " FROM metering_usageevent e WHERE e.customer_id IS NOT NULL"  # noqa: S608
        " AND e.id NOT IN (SELECT unnest(event_pks) FROM metering_rollupqueue)"
        f" AND e.timestamp >= %s AND e.timestamp < %s AND {where}"
    )
    tail_params = [lower, span.end, *where_params]
    if version.aggregation == Aggregation.UNIQUE_COUNT:
        return (
            f"SELECT DISTINCT e.customer_id, {bucket_sql('e.timestamp')}, {group}, {value}{tail}",
            [*group_params, *value_params, *tail_params],
        )
    template = _EXPECTED_AGG[version.aggregation]
    return (
        f"SELECT e.customer_id, {bucket_sql('e.timestamp')} AS hour, {group} AS g,"
        f" {template.format(v=value)} AS value{tail} GROUP BY 1, 2, 3",
        [*group_params, *(value_params if "{v}" in template else []), *tail_params],
    )


def _mismatches(
    cursor: Any, span: VersionSpan, since: datetime | None, limit: int
) -> list[dict[str, Any]]:
    expected, params = _expected_sql(span, since)
    hour_from = since or span.start
    if span.aggregation == Aggregation.UNIQUE_COUNT:
        stored = (
            "SELECT customer_id, hour, group_values, value FROM metering_uniquevalue"  # noqa: S608
            f" WHERE meter_version_id = %s AND hour >= {bucket_sql('%s::timestamptz')}"
        )
        sql = (
            f"(({expected}) EXCEPT ({stored})) UNION ALL (({stored}) EXCEPT ({expected})) LIMIT %s"
        )
        cursor.execute(
            sql, [*params, span.version.pk, hour_from, span.version.pk, hour_from, *params, limit]
        )
        return [
            {"customer_id": c, "hour": h, "group": g, "value": v, "kind": "unique"}
            for c, h, g, v in cursor.fetchall()
        ]
    sql = (
        f"SELECT coalesce(x.customer_id, r.customer_id), coalesce(x.hour, r.hour),"  # noqa: S608
        f" coalesce(x.g, r.group_values), x.value, r.value FROM ({expected}) x"
        " FULL OUTER JOIN (SELECT * FROM metering_hourlyrollup WHERE meter_version_id = %s"
        f" AND hour >= {bucket_sql('%s::timestamptz')}) r"
        " ON r.customer_id = x.customer_id AND r.hour = x.hour AND r.group_values = x.g"
        " WHERE x.value IS DISTINCT FROM r.value LIMIT %s"
    )
    cursor.execute(sql, [*params, span.version.pk, hour_from, limit])
    return [
        {"customer_id": c, "hour": h, "group": g, "expected": e, "stored": s}
        for c, h, g, e, s in cursor.fetchall()
    ]


def rollup_mismatches(
    *, since: datetime | None = None, limit: int = 20
) -> dict[str, list[dict[str, Any]]]:
    """Meter version label -> differing buckets (empty dict: rollups equal raw events)."""
    found: dict[str, list[dict[str, Any]]] = {}
    outermost = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if outermost:  # one snapshot for queue, events and rollups
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [METER_DEFINITIONS_LOCK])
        versions = list(MeterVersion.objects.select_related("meter"))
        for meter_id in sorted({v.meter_id for v in versions}):
            for span in spans_for([v for v in versions if v.meter_id == meter_id]):
                if span.aggregation == Aggregation.TIME_WEIGHTED_SUM:
                    continue  # integrated from raw events at read time; nothing stored
                rows = _mismatches(cursor, span, since, limit)
                if rows:
                    found[f"{span.version.meter.key} v{span.version.version}"] = rows
    return found


@invariant(2, "rollups equal a recomputation from raw events")
def rollups_match_raw_events() -> Iterator[Violation]:
    # Archived (detached) months have no raw events left; their rollups are what was billed.
    for label, buckets in rollup_mismatches(since=archived_through()).items():
        for bucket in buckets:
            detail = ", ".join(f"{k}={v}" for k, v in bucket.items())
            yield Violation(f"meter {label}", detail)


@invariant(1, "an event id is stored once per namespace")
def event_ids_unique() -> Iterator[Violation]:
    """The database enforces it with the dedup key table's primary key (the events table is
    partitioned by month and cannot hold a unique constraint without ``timestamp``); the check
    proves that key is there and valid."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_constraint c JOIN pg_index i ON i.indexrelid = c.conindid"
            " WHERE c.conname = 'usageevent_unique_id' AND c.contype IN ('p', 'u')"
            " AND c.conrelid = 'metering_usageeventkey'::regclass"
        )
        row = cursor.fetchone()
    if row is None or not row[0]:
        yield Violation(
            "metering_usageeventkey",
            "the primary key on (namespace, event_id) "
            "is missing or invalid: duplicates could be counted",
        )


@invariant(2, "the rollup queue keeps moving (no batch waits past METERING_ROLLUP_STALL_SECONDS)")
def rollup_queue_moving() -> Iterator[Violation]:
    """A queue that stopped moving (no worker, a worker that fails every run) keeps usage
    out of the rollups for everyone, while every other check still passes."""
    threshold = settings.METERING_ROLLUP_STALL_SECONDS
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), coalesce(sum(cardinality(event_pks)), 0), min(created_at)"
            " FROM metering_rollupqueue WHERE quarantined_at IS NULL AND created_at < %s",
            [timezone.now() - timedelta(seconds=threshold)],
        )
        batches, events, oldest = cursor.fetchone()
    if batches:
        yield Violation(
            "metering_rollupqueue",
            f"{batches} batch(es) ({events} events) waiting longer than {threshold} s, the "
            f"oldest since {oldest.isoformat()}: is the rollup worker running and succeeding?",
        )


@invariant(2, "no event is quarantined out of the rollups")
def no_quarantined_rollups() -> Iterator[Violation]:
    """Quarantined events are acknowledged but not counted until someone fixes and replays
    them (admin: Metering > Quarantined rollups)."""
    rows = RollupQueue.objects.filter(quarantined_at__isnull=False).order_by("id")
    for entry in rows.iterator():
        reason = (entry.reason.splitlines() or ["(no reason recorded)"])[0][:200]
        yield Violation(
            f"quarantined rollup #{entry.pk} (events {entry.event_pks})",
            f"since {entry.quarantined_at}: {reason}",
        )


@invariant(1, "the configured usage store keeps each event id once and counts attributed ones")
def usage_store_ids_once() -> Iterator[Violation]:
    store = event_store()
    if isinstance(store, ColumnarStore):
        for subject, detail in ids_stored_once(store):
            yield Violation(subject, detail)
        for subject, detail in attributed_events_adopted(store):
            yield Violation(subject, detail)


@invariant(2, "the configured usage store's rollups equal its raw events per customer and day")
def usage_store_rollups_match() -> Iterator[Violation]:
    store = event_store()
    if isinstance(store, ColumnarStore):
        for subject, detail in rollups_match_events(store):
            yield Violation(subject, detail)
