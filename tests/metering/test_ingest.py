"""Ingest service: outcomes, dedup, attribution, key binding, limits (invariant 1)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from accounts.services import api_key_create
from metering.models import EventConflict, RejectedEvent, RollupQueue, UsageEvent
from metering.services import events_ingest
from tests.factories import CustomerAliasFactory, CustomerFactory
from tests.metering.helpers import NOW, event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]


def statuses(result):
    return [e["status"] for e in result.events]


def test_outcomes_in_input_order_and_counts(customer):
    CustomerAliasFactory(customer=customer, alias="proj_1")
    result = events_ingest(
        api_key=None,
        events=[
            event("a", at=NOW),
            event("b", customer="proj_1", at=NOW),
            event("c", customer="nobody", at=NOW),
            {"id": "d", "type": "x"},
            event("a", at=NOW),
            event("a", at=NOW, bytes=1),
        ],
    )
    assert statuses(result) == [
        "accepted",
        "accepted",
        "unattributed",
        "rejected",
        "duplicate",
        "conflict",
    ]
    assert result.events[3]["reason"] == "missing_customer"
    assert result.counts == {
        "accepted": 2,
        "duplicate": 1,
        "conflict": 1,
        "unattributed": 1,
        "rejected": 1,
    }
    stored = {e.event_id: e for e in UsageEvent.objects.all()}
    assert set(stored) == {"a", "b", "c"}
    assert stored["b"].customer == customer and stored["b"].customer_ref == "proj_1"
    assert stored["c"].customer is None
    assert RejectedEvent.objects.get().reason == "missing_customer"
    conflict = EventConflict.objects.get()
    assert conflict.existing == stored["a"] and conflict.payload["properties"] == {"bytes": 1}
    queued = [pk for row in RollupQueue.objects.all() for pk in row.event_pks]
    assert sorted(queued) == sorted([stored["a"].pk, stored["b"].pk])


def test_resend_is_duplicate_forever_and_changes_nothing(customer):
    batch = [event(f"e{i}", at=NOW - timedelta(minutes=i), n=i) for i in range(20)]
    first = events_ingest(api_key=None, events=batch)
    again = events_ingest(api_key=None, events=list(reversed(batch)))
    assert first.counts["accepted"] == 20
    assert again.counts["duplicate"] == 20 and again.counts["accepted"] == 0
    assert UsageEvent.objects.count() == 20
    assert RollupQueue.objects.count() == 1  # the re-send queued nothing


def test_missing_timestamp_defaults_to_received_and_resend_is_duplicate(customer):
    received = NOW - timedelta(seconds=5)
    events_ingest(api_key=None, events=[event("t1")], received_at=received)
    again = events_ingest(api_key=None, events=[event("t1")])
    assert statuses(again) == ["duplicate"]
    stored = UsageEvent.objects.get()
    assert stored.timestamp == received and stored.timestamp_given is False


def test_equal_instants_in_other_offsets_are_the_same_content(customer):
    events_ingest(api_key=None, events=[{**event("z"), "timestamp": "2026-11-10T12:00:00Z"}])
    again = events_ingest(
        api_key=None, events=[{**event("z"), "timestamp": "2026-11-10T13:00:00+01:00"}]
    )
    assert statuses(again) == ["duplicate"]


def test_namespaces_keep_vendor_ids_apart(customer):
    native = events_ingest(api_key=None, events=[event("same", at=NOW)])
    vendor = events_ingest(api_key=None, events=[event("same", at=NOW, x=1)], id_namespace="lago")
    assert statuses(native) == statuses(vendor) == ["accepted"]
    assert UsageEvent.objects.filter(event_id="same").count() == 2


def test_customer_bound_key_only_sends_its_own_events(customer):
    other = CustomerFactory(external_id="globex")
    key = api_key_create(name="acme ingest", scope="ingest", customer=customer).api_key
    result = events_ingest(
        api_key=key,
        events=[
            event("mine", at=NOW),
            event("theirs", customer="globex", at=NOW),
            event("unknown", customer="nobody", at=NOW),
        ],
    )
    assert statuses(result) == ["accepted", "rejected", "rejected"]
    assert {e["reason"] for e in result.events[1:]} == {"customer_not_allowed"}
    assert not UsageEvent.objects.filter(customer=other).exists()
    assert RejectedEvent.objects.filter(reason="customer_not_allowed").count() == 2


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (
            {"id": "x", "customer": "acme", "type": "t", "timestamp": "yesterday"},
            "invalid_timestamp",
        ),
        (
            {"id": "x", "customer": "acme", "type": "t", "timestamp": "2026-11-10T12:00:00"},
            "invalid_timestamp",
        ),
        (
            {"id": "x", "customer": "acme", "type": "t", "timestamp": "2026-11-10T12:36:00Z"},
            "timestamp_in_future",
        ),
        (
            {"id": "x", "customer": "acme", "type": "t", "timestamp": "2026-09-01T00:00:00Z"},
            "timestamp_too_old",
        ),
        ({"id": "", "customer": "acme", "type": "t"}, "invalid_id"),
        ({"id": "x" * 257, "customer": "acme", "type": "t"}, "invalid_id"),
        ({"id": "x", "customer": "acme"}, "missing_type"),
        ({"id": "x", "customer": "acme", "type": "t", "properties": [1]}, "invalid_properties"),
        ({"id": "x", "customer": "acme", "type": "t", "extra": 1}, "unknown_field"),
        (
            {"id": "x", "customer": "acme", "type": "t", "properties": {"b": "x" * 17000}},
            "properties_too_large",
        ),
        (
            {"id": "x", "customer": "acme", "type": "t", "properties": {"a": "x\x00y"}},
            "invalid_properties",
        ),
        ({"id": "x\x00", "customer": "acme", "type": "t"}, "invalid_id"),
        ("not an object", "invalid_event"),
    ],
)
def test_invalid_events_are_rejected_with_a_reason_and_kept(customer, raw, reason):
    result = events_ingest(api_key=None, events=[raw, event("ok", at=NOW)])
    assert result.events[0]["status"] == "rejected"
    assert result.events[0]["reason"] == reason
    assert result.events[1]["status"] == "accepted"  # valid events still stored
    assert RejectedEvent.objects.get().reason == reason


def test_a_null_event_is_rejected_and_kept_as_json_null(customer):
    result = events_ingest(api_key=None, events=[None, event("ok", at=NOW)])
    assert [e["status"] for e in result.events] == ["rejected", "accepted"]
    kept = RejectedEvent.objects.get()
    assert (kept.reason, kept.payload) == ("invalid_event", None)


def test_future_limit_is_five_minutes(customer):
    result = events_ingest(
        api_key=None,
        events=[
            event("in", at=NOW + timedelta(minutes=4, seconds=59)),
            event("out", at=NOW + timedelta(minutes=5, seconds=1)),
        ],
        received_at=NOW,
    )
    assert statuses(result) == ["accepted", "rejected"]


def test_unattributed_events_are_counted_once_the_customer_appears(
    db, django_capture_on_commit_callbacks
):
    events_ingest(
        api_key=None,
        events=[event("u1", customer="late-co", at=NOW), event("u2", customer="proj_9", at=NOW)],
    )
    assert UsageEvent.objects.filter(customer__isnull=True).count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        created = CustomerFactory(external_id="late-co")
    assert UsageEvent.objects.get(event_id="u1").customer == created
    with django_capture_on_commit_callbacks(execute=True):
        CustomerAliasFactory(customer=created, alias="proj_9")
    assert UsageEvent.objects.get(event_id="u2").customer == created
    queued = sorted(pk for row in RollupQueue.objects.all() for pk in row.event_pks)
    assert queued == sorted(UsageEvent.objects.values_list("pk", flat=True))


def test_attribution_sweep_catches_what_the_hook_missed(db):
    from metering.services import events_attribute

    events_ingest(api_key=None, events=[event("s1", customer="quiet", at=NOW)])
    CustomerFactory(external_id="quiet")  # on_commit hook not executed in this test
    assert UsageEvent.objects.get().customer is None
    assert events_attribute() == 1
    assert events_attribute() == 0
    assert UsageEvent.objects.get().customer.external_id == "quiet"


def test_imprecise_numbers_are_rejected_not_rounded(customer):
    from metering.ingest.limits import ingest_limits
    from metering.ingest.wire import decode_body

    body = (
        b'{"events": [{"id": "p", "customer": "acme", "type": "t", "properties": '
        b'{"v": 0.12345678901234567890}}, {"id": "q", "customer": "acme", "type": "t",'
        b' "properties": {"v": 0.5}}]}'
    )
    document, imprecise = decode_body(body, content_encoding="", limits=ingest_limits())
    result = events_ingest(api_key=None, events=document["events"], check_imprecise=imprecise)
    assert statuses(result) == ["rejected", "accepted"]
    assert result.events[0]["reason"] == "imprecise_number"
