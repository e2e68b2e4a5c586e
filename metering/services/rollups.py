"""Continuous rollups in 15-minute buckets (invariant 2: rollups equal a recomputation from raw
events). ``HourlyRollup.hour`` holds the bucket start (see ``meter_sql.BUCKET``).

The ingest transaction queues the pks of the events it made countable (``RollupQueue``).
``rollup_run`` claims queue rows with ``FOR UPDATE SKIP LOCKED``, adds the claimed events into
``HourlyRollup``/``UniqueValue`` with upserts, and deletes the claimed rows, all in one
transaction: a crash rolls back both, concurrent runners claim disjoint rows, and an event that
commits late is queued whenever it commits, so nothing is skipped or counted twice.

Meter versions: ``rollup_run`` holds a shared advisory lock; creating a version holds it
exclusively while it backfills the new version from events that are *not* queued (queued ones
will be applied by the next run, which sees the version). So every event reaches every version
exactly once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from metering import late, metrics
from metering.meter_sql import (
    VersionSpan,
    bucket_sql,
    filter_sql,
    group_sql,
    spans_for,
    value_sql,
)
from metering.models import Aggregation, MeterVersion

logger = logging.getLogger(__name__)

METER_DEFINITIONS_LOCK = 0x7A11_3E7E  # pg advisory lock key shared by rollups and versioning
ROLLED_UP = (Aggregation.COUNT, Aggregation.SUM, Aggregation.MAX, Aggregation.LATEST)

_COMBINE: dict[str, str] = {
    Aggregation.COUNT: "r.value + excluded.value",
    Aggregation.SUM: "r.value + excluded.value",
    Aggregation.MAX: "GREATEST(r.value, excluded.value)",
    Aggregation.LATEST: (
        "CASE WHEN (excluded.latest_at, excluded.latest_pk) > "
        "(r.latest_at, r.latest_pk) THEN excluded.value ELSE r.value END"
    ),
}
_AGGREGATE: dict[str, str] = {
    Aggregation.COUNT: "count(*)",
    Aggregation.SUM: "sum({v})",
    Aggregation.MAX: "max({v})",
    Aggregation.LATEST: "(array_agg({v} ORDER BY e.timestamp DESC, e.id DESC))[1]",
}


# Same column names as metering_usageevent, so meter_sql fragments (alias e) apply to both.
# DELETE rather than TRUNCATE: an outer transaction (tests, seed) may run several rollups.
_CLAIM_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS metering_claim (id bigint PRIMARY KEY,"
    " customer_id bigint, type text, timestamp timestamptz, properties jsonb)"
    " ON COMMIT DELETE ROWS; DELETE FROM metering_claim"
)
_CLAIM_SQL = (
    "WITH d AS (DELETE FROM metering_rollupqueue WHERE id IN ("
    "  SELECT id FROM metering_rollupqueue ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)"
    "  RETURNING event_pks, created_at),"
    " ids AS (SELECT DISTINCT unnest(event_pks) AS pk FROM d),"
    " ins AS (INSERT INTO metering_claim SELECT e.id, e.customer_id, e.type, e.timestamp,"
    "  e.properties FROM ids JOIN metering_usageevent e ON e.id = ids.pk RETURNING 1)"
    " SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM ins),"
    " (SELECT min(created_at) FROM d)"
)


@dataclass(frozen=True)
class RollupStats:
    batches: int
    events: int
    oldest_queued_at: datetime | None


def rollup_run(*, max_batches: int | None = None) -> RollupStats:
    """Apply up to ``max_batches`` queued ingest batches to the rollups, atomically."""
    limit = max_batches or max(1, settings.METERING_ROLLUP_BATCH_EVENTS // 1000)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [METER_DEFINITIONS_LOCK])
        cursor.execute(_CLAIM_DDL)
        # The claimed events are copied once, by primary key, into a small temp table that
        # every meter's upsert then scans; nested loops keep that copy independent of the
        # events table's size.
        cursor.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
        cursor.execute(_CLAIM_SQL, [limit])
        batches, events, oldest = cursor.fetchone()
        if not events:
            return RollupStats(batches, 0, oldest)
        cursor.execute("SELECT DISTINCT type FROM metering_claim")
        types = [row[0] for row in cursor.fetchall()]
        for span in _spans_for_types(types):
            apply_span(cursor, span, source="claim")
        _mark_late(cursor)
    metrics.ROLLUP_EVENTS.inc(events)
    return RollupStats(batches, events, oldest)


def rollup_drain(*, max_rounds: int = 1000) -> int:
    """Run until the queue is empty (or ``max_rounds``); returns events applied."""
    total = 0
    for _ in range(max_rounds):
        stats = rollup_run()
        total += stats.events
        if stats.batches == 0:
            break
    return total


def _spans_for_types(types: list[str]) -> list[VersionSpan]:
    if not types:
        return []
    meter_ids = set(
        MeterVersion.objects.filter(event_type__in=types).values_list("meter_id", flat=True)
    )
    versions = list(MeterVersion.objects.filter(meter_id__in=meter_ids).order_by("id"))
    spans: list[VersionSpan] = []
    for meter_id in sorted(meter_ids):
        spans += [
            s
            for s in spans_for([v for v in versions if v.meter_id == meter_id])
            if s.version.event_type in types
        ]
    return spans


def apply_span(
    cursor,
    span: VersionSpan,
    *,
    source: str,  # type: ignore[no-untyped-def]
    start: datetime | None = None,
) -> None:
    """Add the events of ``source`` ("claim": the claimed batch; "backfill": every countable
    event not waiting in the queue) that fall in the span into this version's rollups."""
    version = span.version
    if version.aggregation not in (*ROLLED_UP, Aggregation.UNIQUE_COUNT):
        return  # time_weighted_sum is integrated from raw events at read time
    where, where_params = filter_sql(version)
    value, value_params = value_sql(version)
    group, group_params = group_sql(version)
    if source == "claim":
        origin = "metering_claim e WHERE"
    else:
        origin = (
            "metering_usageevent e WHERE e.id NOT IN"
            " (SELECT unnest(event_pks) FROM metering_rollupqueue) AND"
        )
    lower = max(span.start, start) if start else span.start
    tail = (
        f" FROM {origin} e.customer_id IS NOT NULL AND e.timestamp >= %s"
        f" AND e.timestamp < %s AND {where}"
    )
    tail_params = [lower, span.end, *where_params]
    if version.aggregation == Aggregation.UNIQUE_COUNT:
        cursor.execute(
            f"INSERT INTO metering_uniquevalue (meter_version_id, customer_id, hour,"
            f" group_values, value) SELECT DISTINCT %s, e.customer_id,"
            f" {bucket_sql('e.timestamp')}, {group}, {value}{tail}"
            f" ORDER BY 2, 3, 4, 5 ON CONFLICT DO NOTHING",
            [version.pk, *group_params, *value_params, *tail_params],
        )
        return
    aggregate = _AGGREGATE[version.aggregation].format(v=value)
    agg_params = value_params if "{v}" in _AGGREGATE[version.aggregation] else []
    cursor.execute(
        f"INSERT INTO metering_hourlyrollup AS r (meter_version_id, customer_id, hour,"
        f" group_values, value, event_count, latest_at, latest_pk)"
        f" SELECT %s, e.customer_id, {bucket_sql('e.timestamp')}, {group},"
        f" {aggregate}, count(*), max(e.timestamp),"
        f" (array_agg(e.id ORDER BY e.timestamp DESC, e.id DESC))[1]{tail}"
        f" GROUP BY 2, 3, 4 ORDER BY 2, 3, 4"
        f" ON CONFLICT (customer_id, meter_version_id, hour, group_values) DO UPDATE SET"
        f" value = {_COMBINE[version.aggregation]},"
        f" event_count = r.event_count + excluded.event_count,"
        f" latest_at = GREATEST(r.latest_at, excluded.latest_at),"
        f" latest_pk = CASE WHEN (excluded.latest_at, excluded.latest_pk) >"
        f" (r.latest_at, r.latest_pk) THEN excluded.latest_pk ELSE r.latest_pk END",
        [version.pk, *group_params, *agg_params, *tail_params],
    )


def _mark_late(cursor) -> None:  # type: ignore[no-untyped-def]
    """Flag claimed events whose customer's period was already closed (see metering.late)."""
    cursor.execute("SELECT DISTINCT customer_id FROM metering_claim")
    closed = late.closed_through([row[0] for row in cursor.fetchall()])
    if not closed:
        return
    customers, instants = zip(*closed.items(), strict=True)
    cursor.execute(
        "UPDATE metering_usageevent e SET is_late = true, late_marked_at = %s"
        " FROM metering_claim c, unnest(%s::bigint[], %s::timestamptz[]) AS k(customer_id, upto)"
        " WHERE c.id = e.id AND e.customer_id = k.customer_id AND e.timestamp < k.upto",
        [timezone.now(), list(customers), list(instants)],
    )
