"""The differential test of issue 16, three legs on one event stream: PostgreSQL only (the
direct path), log + PostgreSQL and log + chdb (the sink writing into the columnar store).

The stream is the store differential's (tests/eventstore/differential.py: duplicates within and
across requests, conflicts, events of a customer created later, events days old, shuffled
batches). The log legs add what only the log has: partitions applied in another order than
published, sinks fetching small random batches, a sink that dies after the store write and
before its PostgreSQL commit (the engine keeps the write, PostgreSQL rolls back, JetStream
re-delivers) and one that dies after the commit and before the ack. Every leg must end with the
same outcome counts, conflict rows, unattributed events, usage series per customer, meter,
group and window, and priced totals."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import transaction
from django.test import override_settings

from metering.eventlog.sink import PartitionSink, apply_messages
from metering.ingest.service import events_ingest
from metering.models import EventConflict, UsageEvent
from metering.services import meter_create
from metering.stores import event_store
from tests.eventstore.conftest import chdb_url  # noqa: F401  (fixture)
from tests.eventstore.differential import (
    GAUGE,
    attribute_late,
    body,
    customers,
    priced,
    run,
    stream,
    usage,
)
from tests.metering.helpers import METER_SPECS, NOW

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


class SinkDied(Exception):
    """A sink process dying at a chosen point (its transaction rolls back, nothing is acked)."""


def pending(sink: PartitionSink) -> int:
    info = sink.client.run(sink._info(), timeout=5)
    return int(info.num_pending or 0) + int(info.num_ack_pending or 0)


def drain_with_faults(rng: random.Random, partitions: int = 2) -> tuple[Counter[str], Counter]:
    """Apply every logged message, partitions interleaved in random order with random batch
    sizes; some batches die before their commit, some after it and before their ack."""
    outcomes: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    sinks = [PartitionSink(p, batch=rng.choice([2, 5, 17])) for p in range(partitions)]
    deadline = time.monotonic() + 90
    fetches = 0
    while sinks:
        assert time.monotonic() < deadline, "the log was not drained"
        sink = rng.choice(sinks)
        msgs = sink.fetch(0.2)
        if not msgs:
            if pending(sink) == 0:
                sinks.remove(sink)
            continue
        data = sink.in_order(msgs)
        fetches += 1
        # The first fetch dies before its commit, the second before its ack; then at random.
        roll = {1: 0.0, 2: 0.3}.get(fetches, rng.random())
        if roll < 0.2 and faults["before_commit"] < 3:
            try:
                with transaction.atomic():
                    apply_messages(sink.stream, sink.partition, data)
                    raise SinkDied
            except SinkDied:
                faults["before_commit"] += 1
            continue  # not acked: re-delivered after ack_wait
        applied = apply_messages(sink.stream, sink.partition, data)
        outcomes.update(applied.counts or {})
        faults["skipped"] += applied.skipped
        if roll < 0.4 and faults["before_ack"] < 3:
            faults["before_ack"] += 1
            continue  # committed, not acked: re-delivered, recognised, applied nothing
        sink.ack(msgs)
    return outcomes, faults


def run_logged(prefix: str, batches: list[list[dict[str, Any]]], seed: int) -> tuple:
    customers(prefix)
    answered: Counter[str] = Counter()
    for batch in batches:
        result = events_ingest(api_key=None, events=body(prefix, batch))
        answered.update(e["status"] for e in result.events)
    assert set(answered) <= {"queued", "rejected"}
    outcomes, faults = drain_with_faults(random.Random(seed))
    attribute_late(prefix)
    return outcomes, faults


def kept(prefix: str) -> dict[str, Any]:
    """What PostgreSQL keeps of a run whatever the store: conflicts and unattributed events."""
    conflicts = sorted(
        (c.event_id.removeprefix(prefix), str(c.payload.get("properties")))
        for c in EventConflict.objects.filter(event_id__startswith=prefix)
    )
    unattributed = sorted(
        (e.event_id.removeprefix(prefix), e.customer_ref.removeprefix(prefix))
        for e in UsageEvent.objects.filter(event_id__startswith=prefix)
        if e.customer_ref.removeprefix(prefix) == "late"
    )
    return {"conflicts": conflicts, "unattributed": unattributed}


def readings(prefix: str) -> dict[str, Any]:
    with time_machine.travel(NOW + timedelta(minutes=2), tick=False):  # gauges run to now
        return usage(prefix)


@pytest.fixture
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=True):
        yield


def test_postgres_log_postgres_and_log_chdb_agree(event_log, chdb_url, frozen):  # noqa: F811
    for spec in [*METER_SPECS, GAUGE]:
        meter_create(name=spec["key"], **spec)
    batches = stream(seed=16)
    with override_settings(TALLY_EVENT_STORE="postgres"):
        with override_settings(TALLY_EVENT_LOG=""):
            direct = Counter(s for answer in run("pg-", batches) for s in answer)
        logged_pg, pg_faults = run_logged("lp-", batches, seed=1)
        legs = {"pg-": readings("pg-"), "lp-": readings("lp-")}
    logged_ch, ch_faults = run_logged("lc-", batches, seed=2)
    assert event_store().name == "columnar"
    legs["lc-"] = readings("lc-")

    direct.pop("rejected", None)
    assert direct["duplicate"] and direct["conflict"] and direct["unattributed"]
    for counts in (logged_pg, logged_ch):
        assert {k: v for k, v in counts.items() if v} == dict(direct)
    for faults in (pg_faults, ch_faults):  # every fault happened and was ridden out
        assert faults["before_commit"] and faults["before_ack"] and faults["skipped"], faults
    assert kept("pg-") == kept("lp-") == kept("lc-")
    assert kept("pg-")["conflicts"] and kept("pg-")["unattributed"]
    for prefix in ("lp-", "lc-"):
        differing = [k for k in legs["pg-"] if legs["pg-"][k] != legs[prefix][k]]
        assert legs["pg-"].keys() == legs[prefix].keys()
        assert not differing, (prefix, differing[:3])
    assert priced(legs["pg-"]) == priced(legs["lp-"]) == priced(legs["lc-"])
    assert sum(priced(legs["pg-"]).values()) > 0
    in_engine = event_store().query(  # type: ignore[attr-defined]
        "SELECT count(), uniqExact(event_id) FROM events WHERE startsWith(event_id, 'lc-')"
    )[0]
    assert in_engine[0] == in_engine[1] > 500  # every id once in the engine
