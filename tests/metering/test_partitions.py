"""Monthly partitions of the usage events: dedup across months through the key table, DEFAULT
rows moved into their month, months ahead, archiving (refusals, Parquet, table), key pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pyarrow.parquet as pq
import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection

from billingsite.invariants import Violation
from metering import partitions_archive
from metering.ingest.service import events_ingest
from metering.late import register_closed_period_resolver, unregister_closed_period_resolver
from metering.models import ArchivedMonth, EventConflict, UsageEvent, UsageEventKey
from metering.partitions import (
    DEFAULT,
    detach_refusals,
    ensure_partitions,
    month_start,
    partition_name,
    partitions_ready,
    prune_keys,
)
from metering.partitions_archive import PartitionError, detach_month
from metering.services.rollups import rollup_drain
from tests.factories import CustomerFactory
from tests.metering.helpers import event

pytestmark = pytest.mark.django_db

MARCH_2024 = datetime(2024, 3, 15, 12, tzinfo=UTC)


def ingest(*events, at):
    result = events_ingest(api_key=None, events=list(events), received_at=at)
    return [o["status"] for o in result.events]


def rows_in(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608
        return cursor.fetchone()[0]


def _stalled_archives() -> list[Violation]:
    return [v for v in partitions_ready() if v.subject.startswith("archive ")]


def invariants(*only: str) -> None:
    call_command("check_invariants", *[a for name in only for a in ("--only", name)])


def test_an_id_is_stored_once_across_months():
    CustomerFactory(external_id="acme")
    feb, mar = datetime(2026, 2, 10, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC)
    assert ingest(event("e1", at=feb), at=feb) == ["accepted"]
    assert ingest(event("e1", at=feb), at=mar) == ["duplicate"]
    # Same id, another month: the events table has no unique constraint across partitions,
    # the key table's primary key still sees the id.
    assert ingest(event("e1", at=mar), event("e2", at=mar), at=mar) == ["conflict", "accepted"]
    assert rows_in(partition_name(month_start(feb))) == 1
    assert rows_in(partition_name(month_start(mar))) == 1
    assert UsageEvent.objects.filter(event_id="e1").count() == 1
    conflict = EventConflict.objects.get(event_id="e1")
    assert conflict.existing == UsageEvent.objects.get(event_id="e1")
    key = UsageEventKey.objects.get(event_id="e1")
    assert (key.event_pk, key.timestamp) == (conflict.existing_id, feb)


def test_rows_in_default_are_reported_then_moved_into_their_month():
    CustomerFactory(external_id="acme")
    assert ingest(event("old", at=MARCH_2024), at=MARCH_2024) == ["accepted"]
    assert rows_in(DEFAULT) == 1
    with pytest.raises(CommandError):
        invariants("partitions_ready")
    created = ensure_partitions(ahead=0)
    assert created[partition_name(month_start(MARCH_2024))] == 1
    assert rows_in(DEFAULT) == 0
    assert rows_in(partition_name(month_start(MARCH_2024))) == 1
    invariants("partitions_ready")
    assert ingest(event("old", at=MARCH_2024), at=MARCH_2024) == ["duplicate"]


def test_missing_months_ahead_are_reported_and_created():
    with time_machine.travel(datetime(2031, 7, 15, tzinfo=UTC), tick=False):
        with pytest.raises(CommandError):
            invariants("partitions_ready")
        call_command("events_partitions", "--ahead", "2")
        invariants("partitions_ready")
        assert ensure_partitions(ahead=2) == {}


def _closed_forever(customer_ids):
    return {c: datetime(2100, 1, 1, tzinfo=UTC) for c in customer_ids}


def test_archiving_is_refused_while_the_month_can_change():
    CustomerFactory(external_id="acme")
    ingest(event("a1", at=MARCH_2024), event("u1", customer="nobody", at=MARCH_2024), at=MARCH_2024)
    ensure_partitions(ahead=0)
    reasons = " ".join(detach_refusals(month_start(MARCH_2024)))
    assert "finalized invoice" in reasons and "unattributed" in reasons
    assert "dedup window" not in reasons
    now = datetime.now(UTC)
    assert "dedup window" in " ".join(detach_refusals(month_start(now)))
    with pytest.raises(CommandError, match="cannot be archived yet"):
        call_command("events_partitions", "--detach", f"{MARCH_2024:%Y-%m}", "--table", "arch")
    assert rows_in(partition_name(month_start(MARCH_2024))) == 2


def test_an_archived_month_leaves_parquet_and_its_ids_stay_deduplicated(tmp_path):
    CustomerFactory(external_id="acme")
    events = [event(f"m{i}", at=MARCH_2024, n=i) for i in range(3)]
    assert ingest(*events, at=MARCH_2024) == ["accepted"] * 3
    ensure_partitions(ahead=0)
    rollup_drain()
    register_closed_period_resolver(_closed_forever)
    try:
        out = tmp_path / "2024-03.parquet"
        call_command("events_partitions", "--detach", "2024-03", "--out", str(out))
    finally:
        unregister_closed_period_resolver(_closed_forever)
    table = pq.read_table(out)
    assert sorted(table.column("event_id").to_pylist()) == ["m0", "m1", "m2"]
    assert UsageEvent.objects.count() == 0
    assert ArchivedMonth.objects.get().rows == 3
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [partition_name(month_start(MARCH_2024))])
        assert cursor.fetchone()[0] is None
    # The keys outlive the partition: a late re-send is still a duplicate, not a new event.
    assert ingest(events[0], at=MARCH_2024) == ["duplicate"]
    invariants("metering")


def test_an_archived_month_can_go_to_a_table():
    CustomerFactory(external_id="acme")
    ingest(event("t1", at=MARCH_2024), at=MARCH_2024)
    ensure_partitions(ahead=0)
    rollup_drain()
    register_closed_period_resolver(_closed_forever)
    try:
        archived = detach_month(month_start(MARCH_2024), table="usage_archive_2024_03")
        with pytest.raises(PartitionError, match="already archived to usage_archive_2024_03"):
            detach_month(month_start(MARCH_2024), table="again")
    finally:
        unregister_closed_period_resolver(_closed_forever)
    assert archived.rows == 1 and rows_in("usage_archive_2024_03") == 1
    assert archived.completed_at is not None


@pytest.mark.django_db(transaction=True)
def test_ingest_waits_only_for_the_detach_and_an_interrupted_archive_resumes(tmp_path, monkeypatch):
    """The Parquet file is written after the detach commits: another session can take the
    lock an insert takes on the events table meanwhile (it waited for the whole file before).
    A write that fails leaves the rows in the staging table and the month recorded as not
    completed; the same command again finishes it."""
    CustomerFactory(external_id="acme")
    events = [event(f"w{i}", at=MARCH_2024, n=i) for i in range(3)]
    assert ingest(*events, at=MARCH_2024) == ["accepted"] * 3
    ensure_partitions(ahead=0)
    rollup_drain()
    staging = "metering_archiving_2024_03"
    out = tmp_path / "2024-03.parquet"
    written = partitions_archive._write_parquet

    def insert_lock_then_disk_full(table, path):
        with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
            other.execute("SET lock_timeout = '3s'")
            with other.transaction():
                other.execute("LOCK TABLE metering_usageevent IN ROW EXCLUSIVE MODE")
        raise OSError("No space left on device")

    monkeypatch.setattr(partitions_archive, "_write_parquet", insert_lock_then_disk_full)
    register_closed_period_resolver(_closed_forever)
    try:
        with pytest.raises(CommandError, match=r"detached but not yet written.*run the same"):
            call_command("events_partitions", "--detach", "2024-03", "--out", str(out))
        pending = ArchivedMonth.objects.get()
        assert pending.completed_at is None and pending.destination == str(out)
        assert rows_in(staging) == 3 and UsageEvent.objects.count() == 0
        invariants("metering")  # raw-event checks start after the detached month
        assert not _stalled_archives()  # being written: not yet a problem
        with time_machine.travel(pending.archived_at + timedelta(hours=2)):
            (stalled,) = _stalled_archives()
        assert stalled.subject == "archive 2024-03"
        assert "events_partitions --detach 2024-03" in stalled.detail

        monkeypatch.setattr(partitions_archive, "_write_parquet", written)
        done = detach_month(month_start(MARCH_2024), out=out)
        with pytest.raises(PartitionError, match="already archived"):
            detach_month(month_start(MARCH_2024), out=out)
    finally:
        unregister_closed_period_resolver(_closed_forever)
    assert done.rows == 3 and done.completed_at is not None
    with time_machine.travel(done.archived_at + timedelta(hours=2)):
        assert not _stalled_archives()
    assert sorted(pq.read_table(out).column("event_id").to_pylist()) == ["w0", "w1", "w2"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [staging])
        assert cursor.fetchone()[0] is None


def test_keys_past_the_window_are_pruned_and_such_ids_are_too_old_anyway():
    CustomerFactory(external_id="acme")
    ingest(event("old", at=MARCH_2024), at=MARCH_2024)
    now = datetime.now(UTC)
    ingest(event("new"), at=now)
    assert prune_keys() == 1
    assert list(UsageEventKey.objects.values_list("event_id", flat=True)) == ["new"]
    assert ingest(event("new"), at=now) == ["duplicate"]
    result = events_ingest(api_key=None, events=[event("old", at=MARCH_2024)], received_at=now)
    assert result.events[0]["reason"] == "timestamp_too_old"
