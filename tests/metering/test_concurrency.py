"""Several processes at once: the same ids accepted exactly once; a killed rollup worker loses
and double-counts nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import psycopg
import pytest
from django.db import connection

from metering.models import HourlyRollup, RollupQueue, UsageEvent
from metering.services import events_ingest, meter_create, rollup_drain
from metering.tasks import rollup_run_task
from tests import workers
from tests.metering.helpers import NOW, assert_rollups_exact, event
from tests.workers import ROOT, celery_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PROCESSES = 4


def test_same_ids_from_several_processes_are_accepted_exactly_once(customer):
    env = {**os.environ, "DATABASE_URL": workers.test_database_url()}
    start_at = time.time() + 3
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.metering.ingest_process",
                str(start_at),
                str(seed),
                "7" if seed % 2 else "0",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for seed in range(PROCESSES)
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
        outputs.append(json.loads(out))
    per_id: dict[str, Counter[str]] = {}
    for outcomes in outputs:
        for event_id, status in outcomes:
            per_id.setdefault(event_id, Counter())[status] += 1
    assert len(per_id) == 400
    for event_id, statuses in per_id.items():
        assert statuses["accepted"] == 1, (event_id, statuses)
        assert sum(statuses.values()) == PROCESSES
        assert set(statuses) <= {"accepted", "duplicate", "conflict"}
    assert UsageEvent.objects.count() == 400
    # Ids whose content differs between senders (every 7th, odd seeds) produced conflicts.
    assert any(s["conflict"] for s in per_id.values())
    queued = [pk for row in RollupQueue.objects.all() for pk in row.event_pks]
    assert sorted(queued) == sorted(UsageEvent.objects.values_list("pk", flat=True))


def _raw_connection() -> psycopg.Connection:
    return psycopg.connect(workers.test_database_url(), autocommit=False)


def _wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def _blocked_rollup_backend() -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE 'INSERT INTO metering_hourlyrollup%%'"
        )
        row = cursor.fetchone()
    return row[0] if row else None


def test_worker_killed_mid_rollup_loses_and_double_counts_nothing(customer):
    meter = meter_create(key="calls", name="Calls", event_type="api_request", aggregation="count")
    version = meter.versions.get()
    events_ingest(api_key=None, events=[event(f"a{i}", at=NOW) for i in range(10)])
    rollup_drain()
    events_ingest(api_key=None, events=[event(f"b{i}", at=NOW) for i in range(30)])
    assert RollupQueue.objects.count() == 1
    blocker = _raw_connection()
    try:
        # Hold the bucket's row lock so the worker stops inside its transaction, after it
        # has claimed the queued batch and before it can commit.
        blocker.execute("SELECT * FROM metering_hourlyrollup FOR UPDATE")
        with celery_worker(queues="rollups") as worker:
            rollup_run_task.delay()
            _wait_for(lambda: _blocked_rollup_backend() is not None)
            backend = _blocked_rollup_backend()
            with _raw_connection() as probe:
                claimable = probe.execute(
                    "SELECT id FROM metering_rollupqueue FOR UPDATE SKIP LOCKED"
                ).fetchall()
            assert claimable == []  # the worker holds the batch
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
        blocker.rollback()
    finally:
        blocker.close()

    def backend_gone() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [backend])
            return cursor.fetchone()[0] == 0

    _wait_for(backend_gone)
    assert RollupQueue.objects.count() == 1  # the claim rolled back with the dead worker
    assert rollup_drain() == 30
    assert_rollups_exact(version)
    assert HourlyRollup.objects.get(meter_version=version).value == 40
