"""Property: whatever sequence of sends, re-sends, conflicts, unknown customers, late (out of id
order) commits and rollup runs happens, once everything has committed and the queue is drained,
every rollup equals a recomputation from raw events, and every id is stored once (DESIGN.md
invariants 1 and 2).

Held batches run in their own thread and connection with an open transaction, so they take
their ids (and queue rows) early and commit later, while other batches commit and rollups run.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Customer
from metering.invariants import rollup_mismatches
from metering.models import UsageEvent
from metering.services import events_attribute, events_ingest, rollup_drain, rollup_run
from tests.factories import CustomerFactory
from tests.metering.helpers import NOW, assert_rollups_exact, create_meters, event

CUSTOMERS = ["acme", "globex", "newco"]  # newco does not exist until an op creates it

event_spec = st.tuples(
    st.integers(0, 11),  # id
    st.sampled_from(CUSTOMERS),
    st.integers(0, 2),  # content variant: same id + other variant = conflict
    st.integers(0, 4),  # hours ago
    st.integers(0, 59),  # minute
)
send = st.tuples(st.just("send"), st.lists(event_spec, min_size=1, max_size=6), st.booleans())
operation = st.one_of(
    send,
    st.tuples(st.just("commit"), st.integers(0, 3)),
    st.tuples(st.just("rollup"), st.integers(1, 3)),
    st.just(("create_newco",)),
)


def build(spec: tuple[int, str, int, int, int]) -> dict:
    idx, customer, variant, hours_ago, minute = spec
    at = (NOW - timedelta(hours=hours_ago + idx % 2)).replace(minute=minute)
    return event(
        f"e{idx}",
        customer=customer,
        at=at,
        n=idx + variant * 0.5,
        region=["eu", "us"][(idx + variant) % 2],
        **({"user": f"u{(idx + variant) % 3}"} if variant else {}),
    )


class HeldBatch:
    """An ingest whose transaction stays open until ``commit``."""

    def __init__(self, events: list[dict]) -> None:
        self.events = events
        self.ids = {e["id"] for e in events}
        self.inserted, self.release = threading.Event(), threading.Event()
        self.result = None
        self.thread = threading.Thread(target=self._run)
        self.thread.start()
        assert self.inserted.wait(15)

    def _run(self) -> None:
        try:
            with transaction.atomic():
                self.result = events_ingest(api_key=None, events=self.events)
                self.inserted.set()
                self.release.wait(30)
        finally:
            self.inserted.set()
            connection.close()

    def commit(self) -> None:
        self.release.set()
        self.thread.join(30)


def reset() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE metering_usageevent, metering_hourlyrollup,"
            " metering_uniquevalue, metering_rollupqueue, metering_eventconflict,"
            " metering_rejectedevent"
        )
    Customer.objects.filter(external_id="newco").delete()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("frozen_now")
def test_rollups_equal_recomputation_under_any_interleaving():
    CustomerFactory(external_id="acme")
    CustomerFactory(external_id="globex")
    versions = create_meters()

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.lists(operation, min_size=1, max_size=14))
    def run(ops):
        reset()
        held: list[HeldBatch] = []
        results = []
        try:
            for op in ops:
                if op[0] == "send":
                    busy = {i for h in held for i in h.ids}  # would block on their ids
                    events = [e for e in map(build, op[1]) if e["id"] not in busy]
                    if not events:
                        continue
                    if op[2]:
                        held.append(HeldBatch(events))
                    else:
                        results.append(events_ingest(api_key=None, events=events))
                elif op[0] == "commit" and held:
                    batch = held.pop(op[1] % len(held))
                    batch.commit()
                    results.append(batch.result)
                elif op[0] == "rollup":
                    rollup_run(max_batches=op[1])
                elif op[0] == "create_newco":
                    if not Customer.objects.filter(external_id="newco").exists():
                        CustomerFactory(external_id="newco")
        finally:
            for batch in held:
                batch.commit()
                results.append(batch.result)
        events_attribute()  # the periodic sweep: events whose ingest raced the creation
        rollup_drain()
        for version in versions:
            assert_rollups_exact(version)
        assert rollup_mismatches() == {}  # the operator check agrees with the Python oracle
        stored = sum(r.counts["accepted"] + r.counts["unattributed"] for r in results if r)
        assert UsageEvent.objects.count() == stored
        newco = Customer.objects.filter(external_id="newco").first()
        assert not UsageEvent.objects.filter(
            customer__isnull=True, customer_ref__in=["acme", "globex"]
        ).exists()
        if newco is not None:
            assert not UsageEvent.objects.filter(customer__isnull=True).exists()

    run()
