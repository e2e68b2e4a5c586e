"""Fault tests on a real 3-node JetStream cluster on loopback (stream replicas=3): the stream
leader is killed mid-run, a sink is SIGKILLed between its store commit and its acks; clients
that retry with the same ids end with exactly the right counts and check_invariants clean.

Marked slow (CI runs them). Each test bounds its own waits (30 s for the cluster to recover,
45 s per sink process); measured here at about 10-20 s each."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.services import api_key_create
from billingsite.nats_server import Servers, start_servers
from metering.eventlog import partition_of
from metering.eventlog.client import log_client, reset_clients
from metering.eventlog.health import event_log_consumed
from metering.models import EventConflict, SinkBatch, UsageEvent
from tests import workers
from tests.eventlog.conftest import log_settings, wait_jetstream
from tests.eventlog.test_log_ingest import drain
from tests.factories import CustomerFactory
from tests.metering.helpers import event

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    servers = start_servers(Path(tmp_path_factory.mktemp("cluster")), 3)
    try:
        wait_jetstream(servers.url)
        yield servers
    finally:
        servers.stop()


@pytest.fixture
def clustered_log(cluster: Servers) -> Iterator[Servers]:
    with log_settings(cluster.url, TALLY_EVENT_LOG_REPLICAS=3):
        yield cluster
        reset_clients()


def ingest_client() -> APIClient:
    issued = api_key_create(name="faults", scope="ingest")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return client


def send_until_logged(client: APIClient, body: dict, deadline: float = 30) -> int:
    """A client that retries the same body (same ids) until the log acknowledges it."""
    tries = 0
    stop = time.monotonic() + deadline
    while True:
        tries += 1
        answer = client.post("/api/v1/events", body, format="json")
        if answer.status_code == 200:
            return tries
        assert answer.status_code == 503, answer.content
        assert time.monotonic() < stop, "the cluster did not recover"
        time.sleep(0.2)


def stream_leader() -> str:
    client = log_client()

    async def leader() -> str:
        js = await client.js()
        info = await js.stream_info(settings.TALLY_EVENT_LOG_STREAM)
        return str(info.cluster.leader)

    return client.run(leader())


def test_stream_leader_killed_mid_run(clustered_log: Servers) -> None:
    CustomerFactory(external_id="acme")
    CustomerFactory(external_id="beta")
    client = ingest_client()
    killed = ""
    retried = 0
    for i in range(40):
        batch = [event(f"k{i}-{j}", customer="acme" if j % 2 else "beta", n=j) for j in range(25)]
        if i == 15:
            leader = stream_leader()
            node = next(n for n in clustered_log.nodes if n.name == leader)
            node.stop(kill=True)
            killed = leader
        retried += send_until_logged(client, {"events": batch}) - 1
        if i % 10 == 9:  # and a client re-sends an older batch (duplicates, same ids)
            send_until_logged(client, {"events": batch})
    assert killed and stream_leader() != killed
    counts = drain()
    assert UsageEvent.objects.count() == 40 * 25
    assert counts["accepted"] == 40 * 25
    assert counts["conflict"] == 0
    assert list(event_log_consumed()) == []
    node.start(cluster="tally")  # back for the next tests
    wait_jetstream(clustered_log.url)


def _sink_env() -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": workers.test_database_url(),
        "TALLY_EVENT_LOG": settings.TALLY_EVENT_LOG,
        "TALLY_EVENT_LOG_STREAM": settings.TALLY_EVENT_LOG_STREAM,
        "TALLY_EVENT_LOG_PARTITIONS": str(settings.TALLY_EVENT_LOG_PARTITIONS),
        "TALLY_EVENT_LOG_REPLICAS": "3",
        "TALLY_EVENT_LOG_ACK_WAIT_SECONDS": "1.5",
    }


def _sink(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "events_sink", "--batch", "5", *args],
        cwd=workers.ROOT,
        env=_sink_env(),
        capture_output=True,
        text=True,
        timeout=45,
    )


def test_sink_sigkilled_between_store_write_and_ack(clustered_log: Servers) -> None:
    CustomerFactory(external_id="acme")
    client = ingest_client()
    part = str(partition_of("acme", settings.TALLY_EVENT_LOG_PARTITIONS))
    for i in range(6):
        batch = [event(f"s{i}-{j}", n=j) for j in range(10)]
        batch.append(event(f"s{i}-0", n=999))  # same id, other content: a conflict
        send_until_logged(client, {"events": batch})
    killed = _sink("--partitions", part, "--kill-before-ack")
    assert killed.returncode == -9, killed.stderr
    applied_before = UsageEvent.objects.count()
    assert applied_before > 0  # it committed, then died without acking
    done = _sink("--partitions", part, "--max-idle", "3")
    assert done.returncode == 0, done.stderr
    assert UsageEvent.objects.count() == 60
    assert EventConflict.objects.count() == 6  # not one more for the re-delivered batch
    assert SinkBatch.objects.filter(stream=settings.TALLY_EVENT_LOG_STREAM).count() >= 2
    call_command("check_invariants")
    assert list(event_log_consumed()) == []


def test_sink_stops_cleanly_on_sigterm(clustered_log: Servers) -> None:
    CustomerFactory(external_id="acme")
    send_until_logged(ingest_client(), {"events": [event(f"t{i}") for i in range(20)]})
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "events_sink", "--batch", "1"],
        cwd=workers.ROOT,
        env=_sink_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert "partitions" in proc.stdout.readline()
        deadline = time.monotonic() + 30
        while not UsageEvent.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "events_sink: stopped" in out
    # whatever it applied was acknowledged: a new sink applies the rest, nothing twice
    assert _sink("--max-idle", "3").returncode == 0
    assert UsageEvent.objects.count() == 20
