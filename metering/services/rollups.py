"""Continuous rollups in 15-minute buckets (invariant 2: rollups equal a recomputation from raw
events). ``HourlyRollup.hour`` holds the bucket start (see ``meter_sql.BUCKET``).

The ingest transaction queues the pks of the events it made countable (``RollupQueue``).
``rollup_run`` claims queue rows with ``FOR UPDATE SKIP LOCKED``, adds the claimed events into
``HourlyRollup``/``UniqueValue`` with upserts, and deletes the claimed rows, all in one
transaction: a crash rolls back both, concurrent runners claim disjoint rows, and an event that
commits late is queued whenever it commits, so nothing is skipped or counted twice.

Isolation: one event must never stop rollups for everyone. When applying the claimed batch
fails with a data error (e.g. ``numeric field overflow``), the batch is retried in halves, each
in a savepoint, down to the single events that fail; those are kept as quarantined queue rows
with the database's reason (``metering.services.quarantine`` replays them), and every other
event is applied in the same transaction.

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
from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone

from metering import late, metrics, rollup_hooks
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

# Errors caused by the data of some event (overflow, a value PostgreSQL cannot convert): they
# are isolated and quarantined. Anything else (lost connection, timeout, a bug that affects
# every row) rolls the whole run back and the batch stays queued, as before.
ISOLATED_ERRORS = (DataError, IntegrityError)
# More failing events than this in one run is not a bad event but a systemic problem (a broken
# meter, a bug): the run rolls back and the batch stays queued (the stall check and alert fire)
# instead of quarantining everything one savepoint at a time.
MAX_QUARANTINED_PER_RUN = 100

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
# The events are read with ``id = ANY(array)``, one index scan per monthly partition, rather
# than a join on the ids (one probe of every partition per id): see docs/benchmarks.md.
# DELETE rather than TRUNCATE: an outer transaction (tests, seed) may run several rollups.
CLAIM_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS metering_claim (id bigint PRIMARY KEY,"
    " customer_id bigint, type text, timestamp timestamptz, properties jsonb)"
    " ON COMMIT DELETE ROWS; DELETE FROM metering_claim"
)
_CLAIM_SQL = (
    "WITH d AS (DELETE FROM metering_rollupqueue WHERE id IN ("
    "  SELECT id FROM metering_rollupqueue WHERE quarantined_at IS NULL"
    "  ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)"
    "  RETURNING event_pks, created_at),"
    " ids AS (SELECT DISTINCT unnest(event_pks) AS pk FROM d),"
    " ins AS (INSERT INTO metering_claim SELECT e.id, e.customer_id, e.type, e.timestamp,"
    "  e.properties FROM metering_usageevent e WHERE e.id = ANY(ARRAY(SELECT pk FROM ids))"
    "  RETURNING 1)"
    " SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM ins),"
    " (SELECT min(created_at) FROM d)"
)


# The whole claimed batch, kept while it is retried in parts (see _apply_isolating).
_HELD_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS metering_claim_held (LIKE metering_claim)"
    " ON COMMIT DELETE ROWS; DELETE FROM metering_claim_held;"
    " INSERT INTO metering_claim_held SELECT * FROM metering_claim"
)
_FROM_HELD = "INSERT INTO metering_claim SELECT * FROM metering_claim_held WHERE id = ANY(%s)"


@dataclass(frozen=True)
class RollupStats:
    batches: int
    events: int  # applied to the rollups
    oldest_queued_at: datetime | None
    quarantined: int = 0  # events that could not be applied, kept in quarantine


@dataclass(frozen=True)
class Failure:
    """An event the rollups could not take, and why (the database's words)."""

    event_pk: int
    reason: str
    error_code: str


def rollup_run(*, max_batches: int | None = None) -> RollupStats:
    """Apply up to ``max_batches`` queued ingest batches to the rollups, atomically."""
    limit = max_batches or max(1, settings.METERING_ROLLUP_BATCH_EVENTS // 1000)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [METER_DEFINITIONS_LOCK])
        cursor.execute(CLAIM_DDL)
        # The claimed events are copied once, by primary key, into a small temp table that
        # every meter's upsert then scans; nested loops keep that copy independent of the
        # events table's size.
        cursor.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
        cursor.execute(_CLAIM_SQL, [limit])
        batches, events, oldest = cursor.fetchone()
        if not events:
            return RollupStats(batches, 0, oldest)
        failures = _apply_isolating(cursor)
        if failures:
            quarantine(failures)
        mark_late(cursor)
        if rollup_hooks.registered():
            rollup_hooks.rollup_applied(touched_pairs(cursor))
    metrics.ROLLUP_EVENTS.inc(events - len(failures))
    if failures:
        metrics.ROLLUP_QUARANTINED.inc(len(failures))
    return RollupStats(batches, events - len(failures), oldest, len(failures))


def apply_claim(cursor) -> None:  # type: ignore[no-untyped-def]
    """Add every event in ``metering_claim`` to the rollups of every version that counts it."""
    cursor.execute("SELECT DISTINCT type FROM metering_claim")
    types = [row[0] for row in cursor.fetchall()]
    for span in _spans_for_types(types):
        apply_span(cursor, span, source="claim")


def _apply_isolating(cursor) -> list[Failure]:  # type: ignore[no-untyped-def]
    """Apply the claim; on a data error, apply it in halves down to the failing events.

    Afterwards ``metering_claim`` holds exactly the events that were applied."""
    try:
        with transaction.atomic():  # a savepoint: a failure leaves the claim as it was
            apply_claim(cursor)
        return []
    except ISOLATED_ERRORS:
        logger.warning("rollup batch failed; isolating the failing events", exc_info=True)
    cursor.execute(_HELD_DDL)
    cursor.execute("SELECT id FROM metering_claim_held ORDER BY id")
    failures: list[Failure] = []
    _bisect(cursor, [row[0] for row in cursor.fetchall()], failures)
    failed = [f.event_pk for f in failures]
    cursor.execute("DELETE FROM metering_claim")
    cursor.execute(
        "INSERT INTO metering_claim SELECT * FROM metering_claim_held WHERE id <> ALL(%s)",
        [failed],
    )
    return failures


def _bisect(  # type: ignore[no-untyped-def]
    cursor, pks: list[int], failures: list[Failure]
) -> None:
    """Apply ``pks`` (from the held claim) in one savepoint, or split them until the events
    that fail on their own are found (about 2 log2(n) attempts per failing event); those are
    added to ``failures``."""
    try:
        with transaction.atomic():
            cursor.execute("DELETE FROM metering_claim")
            cursor.execute(_FROM_HELD, [pks])
            apply_claim(cursor)
        return
    except ISOLATED_ERRORS as exc:
        if len(pks) == 1:
            failures.append(failure_from(pks[0], exc))
            if len(failures) > MAX_QUARANTINED_PER_RUN:
                raise
            return
    middle = len(pks) // 2
    _bisect(cursor, pks[:middle], failures)
    _bisect(cursor, pks[middle:], failures)


def failure_from(event_pk: int, exc: Exception) -> Failure:
    cause = exc.__cause__
    code = getattr(cause, "sqlstate", None) or ""
    return Failure(event_pk, str(exc).strip()[:1000], code)


def quarantine(failures: list[Failure]) -> None:
    """Keep each failing event as its own quarantined queue row (the worker skips those)."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO metering_rollupqueue"
            " (event_pks, created_at, quarantined_at, reason, error_code, attempts)"
            " VALUES (%s, %s, %s, %s, %s, 1)",
            [[[f.event_pk], now, now, f.reason, f.error_code] for f in failures],
        )
    for f in failures:
        logger.error(
            "rollup quarantined an event",
            extra={"event_pk": f.event_pk, "reason": f.reason, "error_code": f.error_code},
        )


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


def touched_pairs(cursor) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    """(customer, meter) pairs of the applied claim, for the rollup-applied hooks."""
    cursor.execute(
        "SELECT DISTINCT c.customer_id, v.meter_id FROM metering_claim c"
        " JOIN metering_meterversion v ON v.event_type = c.type"
        " WHERE c.customer_id IS NOT NULL ORDER BY 1, 2"
    )
    return [(row[0], row[1]) for row in cursor.fetchall()]


def mark_late(cursor) -> None:  # type: ignore[no-untyped-def]
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
