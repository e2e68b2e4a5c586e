"""Log mode against a real nats-server: the API answers after PubAck, the sink applies each
event once (duplicates, conflicts, unattributed as on the direct path), a re-delivered batch
is recognised and not re-applied, and an outage is a 503 with nothing half-answered."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.models import Customer
from metering.eventlog.client import EventLogUnavailable
from metering.eventlog.sink import PartitionSink, apply_messages
from metering.models import EventConflict, RejectedEvent, SinkBatch, UsageEvent
from tests.eventlog.conftest import log_settings
from tests.metering.helpers import event

pytestmark = pytest.mark.django_db


def drain(partitions: int = 2, deadline: float = 30) -> dict[str, int]:
    """Run sinks until every partition is empty (riding out a log that is electing a
    leader, as ``events_sink`` does); outcome counts."""
    totals: dict[str, int] = {}
    stop = time.monotonic() + deadline
    for p in range(partitions):
        sink = PartitionSink(p, batch=50)
        while True:
            try:
                applied = sink.step(0.3)
            except EventLogUnavailable:
                assert time.monotonic() < stop, "the log did not recover"
                time.sleep(0.5)
                continue
            for k, v in (applied.counts or {}).items():
                totals[k] = totals.get(k, 0) + v
            if not applied.messages and not applied.skipped:
                break
    return totals


@pytest.fixture
def ingest(api_client_for: Callable[..., APIClient]) -> APIClient:
    return api_client_for("ingest")


def test_queued_then_applied_once(event_log, ingest: APIClient, customer: Customer) -> None:
    body = {
        "events": [
            event("e1", value=1),
            event("e2", customer="nobody-yet"),
            event("e1", value=1),  # same id, same content, same request
            {"id": "bad", "customer": "acme"},  # no type: rejected now
        ]
    }
    answer = ingest.post("/api/v1/events", body, format="json")
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert [e["status"] for e in data["events"]] == ["queued", "queued", "queued", "rejected"]
    assert (data["queued"], data["rejected"], data["accepted"]) == (3, 1, 0)
    assert RejectedEvent.objects.filter(event_id="bad").count() == 1
    assert UsageEvent.objects.count() == 0  # nothing stored before the sink runs

    counts = drain()
    assert counts == {
        "accepted": 1,
        "unattributed": 1,
        "duplicate": 1,
        "conflict": 0,
        "rejected": 0,
    }
    assert set(UsageEvent.objects.values_list("event_id", flat=True)) == {"e1", "e2"}

    again = ingest.post(
        "/api/v1/events", {"events": [event("e1", value=1), event("e2", value=9)]}, format="json"
    )
    assert again.json()["queued"] == 2
    counts = drain()
    assert counts.get("accepted", 0) == 0
    assert UsageEvent.objects.count() == 2
    assert EventConflict.objects.filter(event_id="e2").count() == 1


def test_redelivered_batch_is_not_applied_twice(event_log, ingest, customer) -> None:
    ingest.post(
        "/api/v1/events", {"events": [event("a", value=1), event("a", value=2)]}, format="json"
    )
    from metering.eventlog import partition_of

    sink = PartitionSink(partition_of("acme"), batch=10)
    msgs = sink.fetch(1.0)
    assert len(msgs) == 1
    seq = msgs[0].metadata.sequence.stream
    # The sink applied the batch, then died before acking: nothing reached JetStream.
    first = apply_messages(sink.stream, sink.partition, [(seq, msgs[0].data)])
    assert first.messages == 1 and first.counts["conflict"] == 1
    # JetStream delivers it again after ack_wait; the new sink recognises the token.
    again = PartitionSink(sink.partition, batch=10).step(4.0)
    assert (again.messages, again.skipped) == (0, 1)
    assert UsageEvent.objects.filter(event_id="a").count() == 1
    assert EventConflict.objects.filter(event_id="a").count() == 1
    assert SinkBatch.objects.filter(stream=sink.stream).count() == 1
    assert PartitionSink(sink.partition, batch=10).step(2.0).skipped == 0  # acked now


def test_retry_within_dedup_window_is_one_log_message(event_log, ingest, customer) -> None:
    from metering.eventlog.client import log_client

    for _ in range(3):
        answer = ingest.post("/api/v1/events", {"events": [event("r1")]}, format="json")
        assert answer.status_code == 200
    client = log_client()

    async def messages() -> int:
        js = await client.js()
        info = await js.stream_info(settings.TALLY_EVENT_LOG_STREAM)
        return int(info.state.messages)

    assert client.run(messages()) == 1


def test_outage_answers_503_and_keeps_nothing(customer, ingest, settings) -> None:
    from billingsite.nats_server import free_port

    with log_settings(f"nats://127.0.0.1:{free_port()}", TALLY_EVENT_LOG_TIMEOUT_SECONDS=1):
        answer = ingest.post(
            "/api/v1/events",
            {"events": [event("x1"), {"id": "bad", "customer": "acme"}]},
            format="json",
        )
        from metering.eventlog.client import reset_clients

        reset_clients()
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "event_log_unavailable"
    assert not RejectedEvent.objects.filter(event_id="bad").exists()
    assert not UsageEvent.objects.exists()


def test_bound_key_rejects_other_customers_now(event_log, api_client_for, customer) -> None:
    bound = api_client_for("ingest", customer=customer)
    answer = bound.post(
        "/api/v1/events",
        {"events": [event("mine"), event("theirs", customer="other")]},
        format="json",
    )
    assert [e["status"] for e in answer.json()["events"]] == ["queued", "rejected"]
    assert answer.json()["events"][1]["reason"] == "customer_not_allowed"
