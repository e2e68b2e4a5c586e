"""Monthly partitions of ``metering_usageevent`` and the dedup key table that outlives them.

The events table is range-partitioned by ``timestamp`` (UTC months, ``metering_usageevent_
yYYYYmMM``) with a DEFAULT partition that catches any event whose month has no partition yet,
so an insert never fails. ``ensure_partitions`` creates the next months ahead and moves rows
that landed in DEFAULT into their own month; ``detach_month`` archives a month that can no
longer change; ``prune_keys`` drops dedup keys no copy of whose event could still be accepted.

The dedup window is ``METERING_MAX_EVENT_AGE_DAYS``: ingestion rejects an event whose timestamp
is older (``timestamp_too_old``), and a re-send has the same content, hence the same timestamp.
Keys are kept ``METERING_EVENT_KEY_MARGIN_DAYS`` longer (clock skew, a window widened later).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from billingsite.invariants import Violation, invariant
from metering.late import closed_through
from metering.models import ArchivedMonth

PARENT = "metering_usageevent"
DEFAULT = "metering_usageevent_default"
KEYS = "metering_usageeventkey"
_PRUNE_CHUNK = 50_000


class PartitionError(Exception):
    """A partition operation refused (the message says why); nothing was changed.

    Table names in this module's SQL are constants or built by ``partition_name`` (S608)."""


def month_start(moment: datetime | date) -> date:
    return date(moment.year, moment.month, 1)


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{PARENT}_y{month.year:04d}m{month.month:02d}"


def _bounds(month: date) -> tuple[datetime, datetime]:
    nxt = add_months(month, 1)
    return (
        datetime(month.year, month.month, 1, tzinfo=UTC),
        datetime(nxt.year, nxt.month, 1, tzinfo=UTC),
    )


def dedup_window() -> timedelta:
    return timedelta(days=settings.METERING_MAX_EVENT_AGE_DAYS)


def key_retention() -> timedelta:
    """How long a dedup key is kept after its event's timestamp."""
    return dedup_window() + timedelta(days=settings.METERING_EVENT_KEY_MARGIN_DAYS)


@dataclass(frozen=True)
class MonthPartition:
    month: date
    name: str
    rows: int | None = None


def monthly_partitions() -> list[MonthPartition]:
    """The attached monthly partitions, oldest first (bounds read from the catalog)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = %s::regclass AND c.relname <> %s ORDER BY c.relname",
            [PARENT, DEFAULT],
        )
        names = [name for (name,) in cursor.fetchall()]
    found = []
    for name in names:
        tail = name.removeprefix(f"{PARENT}_y")
        year, _, month = tail.partition("m")
        if year.isdigit() and month.isdigit():
            found.append(MonthPartition(date(int(year), int(month), 1), name))
    return found


def _create_month(cur: Any, month: date) -> int:
    """Create ``month``'s partition, moving the rows DEFAULT holds for it (in the caller's
    transaction). Returns the number of rows moved."""
    name = partition_name(month)
    lower, upper = _bounds(month)
    cur.execute(f'CREATE TABLE "{name}" (LIKE {PARENT} INCLUDING DEFAULTS)')
    cur.execute(
        f'WITH moved AS (DELETE FROM {DEFAULT} WHERE "timestamp" >= %s AND "timestamp" < %s'  # noqa: S608
        f' RETURNING *) INSERT INTO "{name}" SELECT * FROM moved',
        [lower, upper],
    )
    moved = cur.rowcount
    cur.execute(
        f'ALTER TABLE {PARENT} ATTACH PARTITION "{name}" FOR VALUES FROM (%s) TO (%s)',
        [lower, upper],
    )
    return int(moved)


def ensure_partitions(*, ahead: int | None = None, now: datetime | None = None) -> dict[str, int]:
    """Create the partitions of the current month and ``ahead`` months after it, and of every
    month DEFAULT holds rows for (moving those rows). Partition name -> rows moved."""
    ahead = settings.METERING_PARTITIONS_AHEAD if ahead is None else ahead
    current = month_start(now or timezone.now())
    wanted = {add_months(current, k) for k in range(ahead + 1)}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT date_trunc('month', \"timestamp\" AT TIME ZONE 'UTC')::date"  # noqa: S608
            f" FROM {DEFAULT}"
        )
        wanted.update(month for (month,) in cursor.fetchall())
    existing = {p.month for p in monthly_partitions()}
    created: dict[str, int] = {}
    for month in sorted(wanted - existing):
        with transaction.atomic(), connection.cursor() as cursor:
            # Inserts wait while the month is carved out of DEFAULT; a few ms when DEFAULT is
            # empty, which it is in normal operation (partitions are created months ahead).
            cursor.execute(f"LOCK TABLE {PARENT} IN SHARE ROW EXCLUSIVE MODE")
            cursor.execute("SELECT to_regclass(%s)", [partition_name(month)])
            if cursor.fetchone()[0] is not None:  # a concurrent run made it meanwhile
                continue
            created[partition_name(month)] = _create_month(cursor, month)
    return created


def prune_keys(*, now: datetime | None = None) -> int:
    """Delete dedup keys whose event time is older than the key retention; returns the count.

    Such an id, sent again with the same content, is rejected ``timestamp_too_old``; sent again
    with other content and a recent timestamp it is accepted as a new event (no conflict)."""
    cutoff = (now or timezone.now()) - key_retention()
    total = 0
    for _ in range(100_000):  # bounded: each round deletes up to _PRUNE_CHUNK keys
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {KEYS} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {KEYS}"  # noqa: S608
                ' WHERE "timestamp" < %s LIMIT %s))',
                [cutoff, _PRUNE_CHUNK],
            )
            deleted = cursor.rowcount
        total += deleted
        if deleted < _PRUNE_CHUNK:
            break
    return total


def archived_through() -> datetime | None:
    """End of the latest archived month: raw events before it are no longer in the table."""
    latest = ArchivedMonth.objects.order_by("-month").values_list("month", flat=True).first()
    return _bounds(latest)[1] if latest else None


def detach_refusals(month: date, *, now: datetime | None = None) -> list[str]:
    """Why ``month`` cannot be archived yet (empty: it can)."""
    now = now or timezone.now()
    lower, upper = _bounds(month)
    reasons = []
    name = partition_name(month)
    if month not in {p.month for p in monthly_partitions()}:
        return [f"{name} is not an attached partition"]
    if upper + key_retention() > now:
        reasons.append(
            f"events of {month:%Y-%m} can still arrive or be re-sent until"
            f" {upper + key_retention():%Y-%m-%d} (dedup window plus margin)"
        )
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT DISTINCT customer_id, customer_id IS NULL FROM "{name}"'  # noqa: S608
        )
        rows = cursor.fetchall()
        cursor.execute(
            "SELECT count(*) FROM metering_rollupqueue q, unnest(q.event_pks) AS pk"  # noqa: S608
            f' WHERE pk IN (SELECT id FROM "{name}")'
        )
        (queued,) = cursor.fetchone()
    customers = {c for c, unattributed in rows if not unattributed}
    if any(unattributed for _c, unattributed in rows):
        reasons.append("unattributed events remain (they could still be attributed and counted)")
    if queued:
        reasons.append(f"{queued} event(s) are still waiting in the rollup queue")
    closed = closed_through(customers)
    open_customers = sorted(c for c in customers if closed.get(c, lower) < upper)
    if open_customers:
        shown = ", ".join(str(c) for c in open_customers[:10])
        reasons.append(
            f"{len(open_customers)} customer(s) have no finalized invoice through"
            f" {upper:%Y-%m-%d} (customer ids {shown})"
        )
    return reasons


# An archive still being written after this long was interrupted (a large month takes minutes).
ARCHIVE_STALL = timedelta(hours=1)


@invariant(1, "usage events have partitions ahead and nothing waits in the DEFAULT partition")
def partitions_ready() -> Iterator[Violation]:
    """A missing future month sends that month's events to DEFAULT (they are stored and
    counted, but the month cannot be archived and DEFAULT grows); ``events_partitions`` fixes
    both. A month detached but not written out (``ArchivedMonth.completed_at`` empty) for
    over ``ARCHIVE_STALL`` was interrupted: its rows wait in a staging table."""
    stalled = ArchivedMonth.objects.filter(
        completed_at=None, archived_at__lt=timezone.now() - ARCHIVE_STALL
    )
    for pending in stalled:
        yield Violation(
            f"archive {pending.month:%Y-%m}",
            f"detached {pending.archived_at:%Y-%m-%d %H:%M} UTC and not yet written to"
            f" {pending.destination}: run `manage.py events_partitions --detach"
            f" {pending.month:%Y-%m}` again with the same --out or --table",
        )
    current = month_start(timezone.now())
    have = {p.month for p in monthly_partitions()}
    for k in range(settings.METERING_PARTITIONS_MIN_AHEAD + 1):
        month = add_months(current, k)
        if month not in have:
            yield Violation(
                partition_name(month), "missing: run `manage.py events_partitions` (beat task)"
            )
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*), min("timestamp"), max("timestamp") FROM {DEFAULT}')  # noqa: S608
        rows, oldest, newest = cursor.fetchone()
    if rows:
        yield Violation(
            DEFAULT,
            f"{rows} event(s) from {oldest:%Y-%m-%d} to {newest:%Y-%m-%d} have no monthly"
            " partition: run `manage.py events_partitions`",
        )
