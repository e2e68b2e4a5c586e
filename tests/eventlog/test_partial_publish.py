"""A request whose events span two partitions, of which the log acknowledges one and not the
other: the client gets 503 and retries with the same ids. Every event ends counted once, the
retry's answer is ``queued`` for every valid event (``rejected`` once for the invalid one), and
the status endpoint reports each event ``accepted`` with no conflict, in the PostgreSQL store
and in the chdb store (docs/scaling.md, "What the ingest answer says").

The fault is real: partition 1's subject is taken out of the stream, so JetStream has no
stream to acknowledge that part while partition 0's part is stored and acknowledged."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from metering import eventlog
from metering.eventlog.client import log_client
from metering.models import RejectedEvent
from tests.eventlog.test_log_ingest import drain
from tests.eventstore.conftest import chdb_url  # noqa: F401  (fixture)
from tests.factories import CustomerFactory
from tests.metering.helpers import event

pytestmark = pytest.mark.django_db


def subjects(only: int | None) -> None:
    """The stream takes every partition's subject (``only`` None) or just one partition's."""
    client = log_client()

    async def update() -> None:
        js = await client.js()
        info = await js.stream_info(eventlog.stream_name())
        config = info.config
        config.subjects = [
            eventlog.subject(only) if only is not None else f"{eventlog.subject_prefix()}.*"
        ]
        await js.update_stream(config)

    client.run(update())


def messages() -> int:
    client = log_client()

    async def count() -> int:
        js = await client.js()
        return int((await js.stream_info(settings.TALLY_EVENT_LOG_STREAM)).state.messages)

    return client.run(count())


def two_partitions() -> tuple[str, str]:
    names = [f"cust-{i}" for i in range(20)]
    first = next(n for n in names if eventlog.partition_of(n) == 0)
    second = next(n for n in names if eventlog.partition_of(n) == 1)
    return first, second


@pytest.fixture(params=["postgres", "chdb"])
def store(request: pytest.FixtureRequest) -> str:
    if request.param == "chdb":
        return str(request.getfixturevalue("chdb_url"))
    return "postgres"


def test_partial_publish_then_retry_counts_every_event_once(
    event_log, store: str, api_client_for: Callable[..., APIClient]
) -> None:
    ingest, read = api_client_for("ingest", customer=None), api_client_for("read", customer=None)
    a, b = two_partitions()
    CustomerFactory(external_id=a)
    CustomerFactory(external_id=b)
    body = {
        "events": [
            event("pp-1", customer=a, n=1),
            event("pp-2", customer=b, n=2),
            event("pp-3", customer=a, n=3),
            {"id": "pp-bad", "customer": a},  # no type: rejected
            event("pp-4", customer=b, n=4),
        ]
    }
    log_client().run(log_client().js())  # the stream exists before the fault is set up
    subjects(only=0)
    failed = ingest.post("/api/v1/events", body, format="json")
    assert failed.status_code == 503, failed.content
    assert failed.json()["error"]["code"] == "event_log_unavailable"
    assert messages() == 1  # partition 0's part is in the log: it will be applied
    assert not RejectedEvent.objects.filter(event_id="pp-bad").exists()  # rolled back

    subjects(only=None)
    retry = ingest.post("/api/v1/events", body, format="json")
    assert retry.status_code == 200, retry.content
    answer = retry.json()
    assert [e["status"] for e in answer["events"]] == ["queued"] * 3 + ["rejected", "queued"]
    assert messages() == 2  # the logged part's copy was dropped by JetStream's window
    # A later retry (after the window) or a reshaped one (here: one event more per partition)
    # logs every part again; the store then classifies the copies as duplicates.
    more = [event("pp-5", customer=a, n=5), event("pp-6", customer=b, n=6)]
    reshaped = {"events": [*body["events"], *more]}
    assert ingest.post("/api/v1/events", reshaped, format="json").status_code == 200
    assert messages() == 4

    counts = drain()
    assert counts["accepted"] == 6 and counts["conflict"] == 0
    assert counts["duplicate"] == 4  # pp-1..pp-4 of the reshaped retry
    assert RejectedEvent.objects.filter(event_id="pp-bad").count() == 2  # two answered sends
    for n in range(1, 7):
        status = read.get(f"/api/v1/events/pp-{n}/status").json()
        assert (status["status"], status["conflicts"]) == ("accepted", 0), status
