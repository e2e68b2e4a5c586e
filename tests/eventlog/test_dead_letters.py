"""Dead letters: a log message the sink cannot decode is parked at once, one it cannot store
is parked on its TALLY_EVENT_LOG_MAX_DELIVERIES-th delivery; either way it is acknowledged,
the messages around it are applied, and it shows in the admin, /metrics and check_invariants
(a real nats-server from the wheel)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from metering import eventlog
from metering.eventlog.client import log_client
from metering.eventlog.health import event_log_dead_letters, eventlog_gauges, log_backlogs
from metering.eventlog.sink import PartitionSink
from metering.models import SinkDeadLetter, UsageEvent
from tests.metering.helpers import event

pytestmark = pytest.mark.django_db


def _publish_raw(partition: int, data: bytes) -> int:
    client = log_client()

    async def publish() -> int:
        js = await client.js()
        ack = await js.publish(eventlog.subject(partition), data)
        return int(ack.seq)

    return client.run(publish())


def _run_sink(partition: int, until: float) -> None:
    """Step one sink until its partition has nothing pending (or the deadline)."""
    sink = PartitionSink(partition, batch=10)
    deadline = time.monotonic() + until
    while time.monotonic() < deadline:
        sink.step(0.3)
        if sum(b.pending for b in log_backlogs() if b.partition == partition) == 0:
            return
    raise AssertionError("the partition was not drained: a message is redelivered forever?")


def _valid_message(event_id: str) -> bytes:
    """A message as the sink would log it, with an id too long for the store (a store error)."""
    at = datetime.now(UTC).isoformat()
    row = [event_id, "acme", "api_request", None, "{}", "00" * 32]
    doc = {"v": 1, "ns": "", "at": at, "vendor": "", "ev": [row]}
    return json.dumps(doc).encode()


def test_an_undecodable_message_is_parked_and_the_rest_applied(
    event_log, api_client_for, customer, client
) -> None:
    partition = eventlog.partition_of("acme")
    ingest = api_client_for("ingest")
    ingest.post("/api/v1/events", {"events": [event("before")]}, format="json")
    seq = _publish_raw(partition, b"\xff{not json")
    ingest.post("/api/v1/events", {"events": [event("after")]}, format="json")

    _run_sink(partition, until=20)

    assert set(UsageEvent.objects.values_list("event_id", flat=True)) == {"before", "after"}
    letter = SinkDeadLetter.objects.get()
    assert (letter.stream_seq, letter.partition, letter.deliveries) == (seq, partition, 1)
    assert letter.reason.startswith("undecodable:") and bytes(letter.payload) == b"\xff{not json"
    violations = list(event_log_dead_letters())
    assert len(violations) == 1 and "1 message(s) parked" in violations[0].detail
    gauges = {g.name: g for g in eventlog_gauges()}
    parked = {s.labels["partition"]: s.value for s in gauges["tally_eventlog_dead_letters"].samples}
    assert parked[str(partition)] == 1.0
    assert 'tally_eventlog_dead_letters{partition="' in client.get("/metrics").content.decode()


def test_a_message_whose_store_keeps_failing_is_parked_after_n_deliveries(
    event_log, customer, settings
) -> None:
    settings.TALLY_EVENT_LOG_MAX_DELIVERIES = 2
    partition = eventlog.partition_of("acme")
    seq = _publish_raw(partition, _valid_message("x" * 5000))  # longer than the store allows
    sink = PartitionSink(partition, batch=10)
    first = sink.step(1.0)
    assert (first.parked, first.retrying) == (0, 1)  # delivery 1: left for redelivery
    assert not SinkDeadLetter.objects.exists()

    _run_sink(partition, until=20)  # delivered again after the ack wait (1.5 s here)

    letter = SinkDeadLetter.objects.get()
    assert (letter.stream_seq, letter.deliveries) == (seq, 2)
    assert letter.reason.startswith("store failed on delivery 2:")
    assert not UsageEvent.objects.exists()


def test_the_dead_letter_admin_shows_the_message(event_log, customer, admin_client) -> None:
    partition = eventlog.partition_of("acme")
    _publish_raw(partition, b'{"v": 99}')
    _run_sink(partition, until=20)
    letter = SinkDeadLetter.objects.get()
    listing = admin_client.get("/admin/metering/sinkdeadletter/").content.decode()
    assert "undecodable" in listing
    page = admin_client.get(f"/admin/metering/sinkdeadletter/{letter.pk}/change/")
    assert "unknown event-log message version 99" in page.content.decode()
