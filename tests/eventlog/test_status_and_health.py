"""What becomes visible after the answer: the status API, the stalled-log gauges and the
check_invariants check, and the vendor adapters in log mode."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from prometheus_client.core import REGISTRY

from metering.eventlog.health import event_log_consumed, eventlog_gauges, log_backlogs
from metering.models import UsageEvent
from tests.eventlog.test_log_ingest import drain
from tests.metering.helpers import NOW, event

pytestmark = pytest.mark.django_db


def test_status_after_the_sink(event_log, api_client_for, customer) -> None:
    ingest, read = api_client_for("ingest"), api_client_for("read")
    ingest.post(
        "/api/v1/events",
        {"events": [event("st/1", n=1), event("st/1", n=2), {"id": "st-bad", "customer": "x"}]},
        format="json",
    )
    missing = read.get("/api/v1/events/st/1/status")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "event_not_found"
    drain()
    body = read.get("/api/v1/events/st/1/status").json()
    assert (body["status"], body["customer"], body["conflicts"]) == ("accepted", "acme", 1)
    assert read.get("/api/v1/events/st-bad/status").json()["status"] == "rejected"
    other = api_client_for("admin", customer=None)
    assert other.get("/api/v1/events/st/1/status?namespace=orb").status_code == 404
    assert read.get("/api/v1/events/st%00/status").status_code == 404  # NUL: no 500


def test_stalled_partition_shows_and_is_flagged(event_log, api_client_for, customer, settings):
    ingest = api_client_for("ingest")
    ingest.post("/api/v1/events", {"events": [event("late-1"), event("late-2")]}, format="json")
    backlog = sum(b.pending for b in log_backlogs())
    assert backlog == 1  # one message (one partition: one customer)
    assert list(event_log_consumed()) == []  # young
    settings.TALLY_EVENT_LOG_MAX_BACKLOG = 0
    assert len(list(event_log_consumed())) == 1  # bounded backlog exceeded
    settings.TALLY_EVENT_LOG_MAX_BACKLOG = 100
    with time_machine.travel(timezone.now() + timedelta(seconds=900)):
        flagged = list(event_log_consumed())
        gauges = {g.name: g for g in eventlog_gauges()}
    assert len(flagged) == 1 and "is an events_sink running" in flagged[0].detail
    oldest = max(s.value for s in gauges["tally_eventlog_oldest_unconsumed_seconds"].samples)
    assert oldest > 800
    drain()
    assert UsageEvent.objects.count() == 2
    assert list(event_log_consumed()) == []
    assert REGISTRY is not None


def test_log_unreachable_is_a_violation(customer, settings) -> None:
    from billingsite.nats_server import free_port
    from metering.eventlog.client import reset_clients

    settings.TALLY_EVENT_LOG = f"nats://127.0.0.1:{free_port()}"
    settings.TALLY_EVENT_LOG_TIMEOUT_SECONDS = 1
    try:
        found = list(event_log_consumed())
        gauges = {g.name: g for g in eventlog_gauges()}
    finally:
        reset_clients()
    assert len(found) == 1 and "unreachable" in found[0].detail
    assert gauges["tally_eventlog_up"].samples[0].value == 0


@time_machine.travel(NOW, tick=True)
def test_vendor_adapter_in_log_mode(event_log, api_client_for, customer) -> None:
    ingest = api_client_for("ingest")
    answer = ingest.post(
        "/compat/orb/v1/ingest?debug=true",
        {
            "events": [
                {
                    "idempotency_key": "o1",
                    "external_customer_id": "acme",
                    "event_name": "api_request",
                    "timestamp": "2026-11-10T12:00:00Z",
                    "properties": {},
                }
            ]
        },
        format="json",
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["debug"]["ingested"] == ["o1"]
    drain()
    assert UsageEvent.objects.filter(namespace="orb", event_id="o1").exists()


def test_metrics_answers_fast_when_the_log_is_down(client, customer, settings) -> None:
    """/metrics used to wait for the publish deadline (+1 s) on every scrape when NATS was down;
    the probe is bounded by TALLY_EVENT_LOG_PROBE_TIMEOUT_SECONDS and its answer remembered."""
    import time

    from billingsite.nats_server import free_port
    from metering.eventlog.client import reset_clients

    client.get("/metrics")  # warm up (imports, first queries) with no log configured
    settings.TALLY_EVENT_LOG = f"nats://127.0.0.1:{free_port()}"
    settings.TALLY_EVENT_LOG_TIMEOUT_SECONDS = 5
    settings.TALLY_EVENT_LOG_PROBE_TIMEOUT_SECONDS = 1.5
    settings.TALLY_EVENT_LOG_PROBE_CACHE_SECONDS = 60
    try:
        started = time.monotonic()
        first = client.get("/metrics").content.decode()
        first_took = time.monotonic() - started
        started = time.monotonic()
        second = client.get("/metrics").content.decode()
        second_took = time.monotonic() - started
    finally:
        reset_clients()
    assert "tally_eventlog_up 0.0" in first and "tally_eventlog_up 0.0" in second
    # bounds, not benchmarks: the old probe took at least the 5 s publish deadline
    assert first_took < 4, first_took
    assert second_took < 1, second_took  # the remembered answer: no new 1.5 s probe
