"""A task whose worker is SIGKILLed mid-run is handed to another worker within the visibility
timeout plus the restore interval (settings ``CELERY_VISIBILITY_TIMEOUT_SECONDS``,
``CELERY_UNACKED_RESTORE_SECONDS``), not an hour later, and the redelivered run completes the
work exactly once. docs/reliability.md, "Redelivery"."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest
from django.db import connection

from metering.models import HourlyRollup, RollupQueue
from metering.services import events_ingest, meter_create
from metering.services.rollups import METER_DEFINITIONS_LOCK
from metering.tasks import rollup_run_task
from tests import workers
from tests.metering.helpers import NOW, assert_rollups_exact, event
from tests.workers import ROOT, celery_worker

VISIBILITY = 4
RESTORE = 1
FAST_REDELIVERY = {
    "CELERY_VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY),
    "CELERY_UNACKED_RESTORE_SECONDS": str(RESTORE),
}


def _wait_for(predicate, timeout: float) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"condition not reached within {timeout} s")


def _rollup_waiting_on_the_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE '%%pg_advisory_xact_lock_shared%%'"
        )
        return bool(cursor.fetchone()[0])


def _purge_queued_kicks() -> None:
    """Ingest kicks a rollup run; drop it so the only rollup task is the one the test sends."""
    from billingsite.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("rollups")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_rollup_killed_mid_run_is_redelivered_within_the_visibility_timeout(customer):
    meter = meter_create(key="calls", name="Calls", event_type="api_request", aggregation="count")
    version = meter.versions.get()
    events_ingest(api_key=None, events=[event(f"e{i}", at=NOW) for i in range(25)])
    _purge_queued_kicks()
    blocker = psycopg.connect(workers.test_database_url(), autocommit=True)
    try:
        # An exclusive hold on the meter-definitions lock stops the rollup inside its
        # transaction, at its first statement: the task is running, its message unacked.
        blocker.execute("SELECT pg_advisory_lock(%s)", [METER_DEFINITIONS_LOCK])
        with celery_worker(queues="rollups", extra_env=FAST_REDELIVERY) as first:
            result = rollup_run_task.delay()
            _wait_for(_rollup_waiting_on_the_lock, timeout=60)
            os.killpg(first.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            first.wait(10)
        blocker.execute("SELECT pg_advisory_unlock(%s)", [METER_DEFINITIONS_LOCK])
    finally:
        blocker.close()
    assert RollupQueue.objects.count() == 1  # the dead worker's claim rolled back
    with celery_worker(queues="rollups", extra_env=FAST_REDELIVERY):
        _wait_for(lambda: result.state == "SUCCESS", timeout=90)
        redelivered_after = time.monotonic() - killed_at
    assert result.get(timeout=5) == 25  # the redelivered run applied the whole batch
    assert RollupQueue.objects.count() == 0
    assert HourlyRollup.objects.get(meter_version=version).value == 25
    assert_rollups_exact(version)
    # Bound: visibility timeout + restore interval + a second worker's start-up on a busy
    # 2-core machine. With the old setting (3600 s) this waited an hour.
    assert redelivered_after < VISIBILITY + RESTORE + 40, redelivered_after


def _transport_options(extra: dict[str, str]) -> dict[str, object]:
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.CELERY_BROKER_TRANSPORT_OPTIONS))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "billingsite.settings", **extra}
    for name in FAST_REDELIVERY:
        if name not in extra:
            env.pop(name, None)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, check=True
    ).stdout
    return dict(json.loads(out))


def test_visibility_timeout_comes_from_the_environment_with_a_minutes_default():
    assert _transport_options({}) == {
        "visibility_timeout": 300,
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
    }
    assert _transport_options(FAST_REDELIVERY)["visibility_timeout"] == VISIBILITY
