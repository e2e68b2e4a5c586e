"""Rollups equal a recomputation from raw events (invariant 2), in-process cases."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction

from metering.late import register_closed_period_resolver, unregister_closed_period_resolver
from metering.models import HourlyRollup, MeterVersion, RollupQueue, UsageEvent
from metering.selectors import late_events, usage_for_period
from metering.services import events_ingest, meter_create, meter_update, rollup_drain, rollup_run
from tests.factories import CustomerFactory
from tests.metering.helpers import NOW, assert_rollups_exact, create_meters, event

pytestmark = pytest.mark.usefixtures("frozen_now")


def sample_events(prefix: str, n: int, customer: str = "acme") -> list[dict]:
    return [
        event(
            f"{prefix}{i}",
            customer=customer,
            at=NOW - timedelta(minutes=17 * i),
            n=(i * 7) % 11 + 0.25,
            region=["eu", "us", "ap"][i % 3],
            **({"user": f"u{i % 4}"} if i % 5 else {}),
        )
        for i in range(n)
    ]


@pytest.mark.django_db
def test_every_aggregation_matches_recomputation(customer):
    versions = create_meters()
    events_ingest(api_key=None, events=sample_events("a", 60))
    events_ingest(api_key=None, events=sample_events("b", 30, customer="nobody"))
    stats = rollup_run()
    assert stats.events == 60 and not RollupQueue.objects.exists()
    for version in versions:
        assert_rollups_exact(version)
    assert rollup_run().events == 0  # idempotent: nothing left, nothing changes
    for version in versions:
        assert_rollups_exact(version)


@pytest.mark.django_db
def test_a_meter_created_later_counts_stored_events(customer):
    events_ingest(api_key=None, events=sample_events("a", 40))
    rollup_drain()
    events_ingest(api_key=None, events=sample_events("b", 10))  # still queued
    versions = create_meters()
    rollup_drain()
    for version in versions:
        assert_rollups_exact(version)


@pytest.mark.django_db
def test_new_meter_version_applies_from_the_current_hour_only(customer):
    meter = meter_create(
        key="bytes", name="Bytes", event_type="api_request", aggregation="sum", value_property="n"
    )
    events_ingest(
        api_key=None,
        events=[
            event("old", at=NOW - timedelta(hours=2), n=5, m=50),
            event("new", at=NOW - timedelta(minutes=10), n=1, m=10),
        ],
    )
    rollup_drain()
    day = (NOW - timedelta(hours=12), NOW + timedelta(hours=1))
    assert usage_for_period(customer=customer, meter=meter, start=day[0], end=day[1]).total == 6
    v2 = meter_update(meter=meter, value_property="m")
    assert v2.version == 2 and v2.effective_from == NOW.replace(minute=0)
    events_ingest(api_key=None, events=[event("after", at=NOW, n=2, m=20)])
    rollup_drain()
    # The past hour keeps v1's definition (5); this hour is counted with v2 (10 + 20).
    assert usage_for_period(customer=customer, meter=meter, start=day[0], end=day[1]).total == 35
    for version in MeterVersion.objects.filter(meter=meter):
        assert_rollups_exact(version)
    from billingsite.errors import AppError

    with pytest.raises(AppError) as backdated:
        meter_update(meter=meter, value_property="n", effective_from=NOW - timedelta(hours=3))
    assert "effective_from" in backdated.value.details


@pytest.mark.django_db
def test_late_events_are_flagged_when_their_period_is_closed(customer):
    meter = meter_create(key="calls", name="Calls", event_type="api_request", aggregation="count")
    closed_through = NOW.replace(hour=0, minute=0)

    def resolver(customer_ids):
        return {customer.pk: closed_through} if customer.pk in customer_ids else {}

    register_closed_period_resolver(resolver)
    try:
        events_ingest(
            api_key=None,
            events=[
                event("late", at=closed_through - timedelta(hours=1)),
                event("current", at=NOW),
            ],
        )
        rollup_drain()
    finally:
        unregister_closed_period_resolver(resolver)
    flagged = late_events(customer=customer, meter=meter, since=NOW - timedelta(minutes=1))
    assert [e.event_id for e in flagged] == ["late"]
    # Still counted in its own hour's rollup: invoicing bills it as an adjustment.
    assert_rollups_exact(meter.versions.get())


@pytest.mark.django_db(transaction=True)
def test_late_commit_out_of_id_order_is_not_skipped(customer):
    """Batch A gets lower ids but commits after batch B and after a rollup ran."""
    version = create_meters()[0]
    a_inserted, release_a = threading.Event(), threading.Event()

    def slow_batch():
        try:
            with transaction.atomic():
                events_ingest(api_key=None, events=sample_events("slow", 20))
                a_inserted.set()
                release_a.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_batch)
    thread.start()
    assert a_inserted.wait(10)
    events_ingest(api_key=None, events=sample_events("fast", 20))
    rollup_drain()
    slow_ids = UsageEvent.objects.filter(event_id__startswith="slow").values_list("pk", flat=True)
    fast_ids = UsageEvent.objects.filter(event_id__startswith="fast").values_list("pk", flat=True)
    assert not slow_ids and max(fast_ids) > 0
    release_a.set()
    thread.join(10)
    assert min(
        UsageEvent.objects.filter(event_id__startswith="slow").values_list("pk", flat=True)
    ) < min(fast_ids)
    rollup_drain()
    assert_rollups_exact(version)
    total = sum(r.value for r in HourlyRollup.objects.filter(meter_version=version))
    assert total == 40


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_rollup_runners_claim_disjoint_batches(customer):
    versions = create_meters()
    for b in range(12):
        events_ingest(api_key=None, events=sample_events(f"c{b}-", 25))
    applied: list[int] = []
    errors: list[BaseException] = []

    def runner():
        try:
            while (stats := rollup_run(max_batches=1)).batches:
                applied.append(stats.events)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert sorted(applied) == [25] * 12  # every batch applied exactly once
    for version in versions:
        assert_rollups_exact(version)


@pytest.mark.django_db(transaction=True)
def test_meter_created_while_batches_are_queued_and_committing(customer):
    """Versioning and rollups interleave: each event reaches the new version exactly once."""
    events_ingest(api_key=None, events=sample_events("pre", 30))
    stop = threading.Event()

    def keep_rolling():
        try:
            while not stop.is_set():
                rollup_run(max_batches=1)
        finally:
            connection.close()

    roller = threading.Thread(target=keep_rolling)
    roller.start()
    try:
        for b in range(5):
            events_ingest(api_key=None, events=sample_events(f"mid{b}-", 10))
            if b == 2:
                versions = create_meters()
    finally:
        stop.set()
        roller.join(30)
    rollup_drain()
    for version in versions:
        assert_rollups_exact(version)


@pytest.mark.django_db
def test_attributed_events_are_rolled_up(django_capture_on_commit_callbacks):
    version = create_meters()[0]
    events_ingest(api_key=None, events=sample_events("u", 15, customer="newco"))
    rollup_drain()
    assert not HourlyRollup.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        newco = CustomerFactory(external_id="newco")
    rollup_drain()
    assert_rollups_exact(version)
    assert (
        sum(r.value for r in HourlyRollup.objects.filter(customer=newco, meter_version=version))
        == 15
    )


@pytest.mark.django_db
def test_two_changes_in_the_same_hour_keep_one_version_for_that_hour(customer):
    meter = meter_create(
        key="bytes", name="Bytes", event_type="api_request", aggregation="sum", value_property="n"
    )
    events_ingest(api_key=None, events=[event("now", at=NOW, n=1, m=10, k=100)])
    meter_update(meter=meter, value_property="m")
    third = meter_update(meter=meter, value_property="k")
    rollup_drain()
    versions = list(meter.versions.order_by("version").values_list("version", "value_property"))
    assert versions == [(1, "n"), (2, "k")]  # the replaced version 2 never applied
    assert third.effective_from == NOW.replace(minute=0)
    hour = (NOW.replace(minute=0), NOW.replace(minute=0) + timedelta(hours=1))
    assert usage_for_period(customer=customer, meter=meter, start=hour[0], end=hour[1]).total == 100
    for version in MeterVersion.objects.filter(meter=meter):
        assert_rollups_exact(version)


@pytest.mark.django_db
def test_invariant_check_finds_a_tampered_rollup(customer):
    from metering.invariants import rollup_mismatches

    versions = create_meters()
    events_ingest(api_key=None, events=sample_events("i", 30))
    assert rollup_mismatches() == {}  # queued events are not expected in rollups yet
    rollup_drain()
    assert rollup_mismatches() == {}
    row = HourlyRollup.objects.filter(meter_version=versions[2]).first()
    HourlyRollup.objects.filter(pk=row.pk).update(value=row.value + 1)
    from metering.models import UniqueValue

    UniqueValue.objects.filter(meter_version=versions[5]).first().delete()
    found = rollup_mismatches()
    assert set(found) == {"bytes v1", "users v1"}
    assert found["bytes v1"][0]["stored"] == row.value + 1


def test_the_rollup_kick_names_the_rollup_task() -> None:
    """The kick sends the task by name (ingest must not import the tasks): the name must be
    the task's."""
    from metering import kicks, tasks

    assert tasks.rollup_run_task.name == kicks.ROLLUP_TASK


def test_kicks_from_one_process_ask_redis_at_most_once_a_second() -> None:
    """Coalesced kicks: after one kick, the next ones within the interval cost no Redis round
    trip (the key, deleted meanwhile, is not set again); after the interval they do."""
    from django.core.cache import cache

    from metering import kicks

    kicks._next_try[0] = 0.0
    cache.delete(kicks.KICK_KEY)
    kicks.rollup_kick()
    assert cache.get(kicks.KICK_KEY) == 1
    cache.delete(kicks.KICK_KEY)
    for _ in range(100):
        kicks.rollup_kick()
    assert cache.get(kicks.KICK_KEY) is None
    kicks._next_try[0] = 0.0  # the interval has passed
    kicks.rollup_kick()
    assert cache.get(kicks.KICK_KEY) == 1
