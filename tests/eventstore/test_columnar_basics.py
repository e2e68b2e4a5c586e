"""The chdb store on its own: dedup (duplicate/conflict), batch tokens, unattributed events
held in PostgreSQL and adopted on attribution, late flags, URL parsing of the server store."""

from __future__ import annotations

from datetime import timedelta

import pytest

from metering.ingest.service import events_ingest
from metering.models import EventConflict, UsageEvent
from metering.services.attribution import events_attribute
from metering.stores import event_store
from metering.stores.columnar.engine import server_options
from metering.stores.columnar.store import ColumnarStore
from tests.factories import CustomerFactory
from tests.metering.helpers import NOW, event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]


def _store() -> ColumnarStore:
    store = event_store()
    assert isinstance(store, ColumnarStore)
    return store


def _count(sql: str) -> int:
    return int(_store().query(sql)[0][0])


def test_duplicates_and_conflicts_are_classified_and_counted_once(chdb_url):
    CustomerFactory(external_id="acme")
    at = NOW - timedelta(minutes=5)
    first = events_ingest(api_key=None, events=[event("a", at=at, n=1), event("b", at=at, n=2)])
    assert first.counts["accepted"] == 2
    again = events_ingest(
        api_key=None,
        events=[event("a", at=at, n=1), event("b", at=at, n=3), event("a", at=at, n=1)],
    )
    assert [e["status"] for e in again.events] == ["duplicate", "conflict", "duplicate"]
    assert _count("SELECT count() FROM events") == 2
    assert _count("SELECT count() FROM event_keys") == 2
    conflict = EventConflict.objects.get()
    assert conflict.event_id == "b" and conflict.existing_id is None
    assert not UsageEvent.objects.exists()  # attributed events live in the columnar store


def test_a_redelivered_batch_token_is_dropped_by_the_engine(chdb_url):
    """The writer died after the write but before its ack: the sink re-delivers the same
    batch with the same token. Even bypassing the key check (as a crash between the key
    look-up and the write of another writer would), the engine drops the repeat."""
    customer = CustomerFactory(external_id="acme")
    from metering.ingest.limits import ingest_limits
    from metering.ingest.wire import EventValidator

    validator = EventValidator(ingest_limits(), NOW, check_imprecise=True)
    batch = [validator.validate(i, event(f"t{i}", at=NOW, n=i)) for i in range(3)]
    store = _store()
    ids = {"acme": customer.pk}
    inserted = store._write(batch, ids, NOW, "", "log:1-3")  # type: ignore[arg-type]
    assert len(inserted) == 3
    store._write(batch, ids, NOW, "", "log:1-3")  # type: ignore[arg-type]
    assert _count("SELECT count() FROM events") == 3
    assert _count("SELECT count() FROM event_keys") == 3
    assert _count("SELECT sum(events) FROM daily_counts") == 3


def test_unattributed_events_wait_in_postgres_and_count_once_attributed(chdb_url):
    at = NOW - timedelta(hours=1)
    result = events_ingest(api_key=None, events=[event("u1", customer="later", at=at, n=1)])
    assert result.counts["unattributed"] == 1
    assert UsageEvent.objects.filter(customer__isnull=True).count() == 1
    assert _count("SELECT count() FROM events") == 0
    again = events_ingest(api_key=None, events=[event("u1", customer="later", at=at, n=9)])
    assert again.counts["conflict"] == 1
    CustomerFactory(external_id="later")
    assert events_attribute(identifiers=["later"]) == 1
    assert _count("SELECT count() FROM events") == 1
    _store().adopt(list(UsageEvent.objects.values_list("pk", flat=True)))  # replayed: no-op
    assert _count("SELECT count() FROM events") == 1
    dup = events_ingest(api_key=None, events=[event("u1", customer="later", at=at, n=1)])
    assert dup.counts["duplicate"] == 1


def test_late_events_are_flagged_from_the_closed_through_resolver(chdb_url):
    from metering.late import register_closed_period_resolver, unregister_closed_period_resolver

    customer = CustomerFactory(external_id="acme")

    def resolver(ids):
        return {customer.pk: NOW - timedelta(days=1)} if customer.pk in ids else {}

    register_closed_period_resolver(resolver)
    try:
        events_ingest(
            api_key=None,
            events=[event("old", at=NOW - timedelta(days=2)), event("new", at=NOW)],
        )
    finally:
        unregister_closed_period_resolver(resolver)
    rows = dict(_store().query("SELECT event_id, is_late FROM events"))
    assert rows == {"old": True, "new": False}


def test_server_url_parsing():
    assert server_options("clickhouse://u:p%40ss@ch.local:9000/usage") == {
        "host": "ch.local",
        "port": 9000,
        "username": "u",
        "password": "p@ss",
        "database": "usage",
    }
    with pytest.raises(ValueError):
        server_options("clickhouse:///nohost")


def test_check_invariants_cover_the_configured_store(chdb_url):
    from metering.invariants import usage_store_ids_once, usage_store_rollups_match
    from metering.services import meter_create

    CustomerFactory(external_id="acme")
    meter_create(key="calls", name="calls", event_type="api_request", aggregation="count")
    events_ingest(
        api_key=None, events=[event(f"k{i}", at=NOW - timedelta(hours=i)) for i in range(5)]
    )
    assert not list(usage_store_ids_once()) and not list(usage_store_rollups_match())
    store = _store()
    # A second copy of k0 written past the writer (no key check, no token): both checks see it.
    store.engine.command(
        "INSERT INTO events SETTINGS insert_deduplicate = 0"
        " SELECT * REPLACE (row_id + 100 AS row_id) FROM events WHERE event_id = 'k0'"
    )
    assert any("'k0'" in v.subject for v in usage_store_ids_once())
    store.engine.command(
        "INSERT INTO daily_counts SETTINGS insert_deduplicate = 0"
        " SELECT customer_id, type, day, 3 FROM daily_counts LIMIT 1"
    )
    broken = [v.subject for v in usage_store_rollups_match()]
    assert any(s.startswith("daily_counts") for s in broken)


def test_ids_and_properties_with_quotes_and_backslashes_round_trip(chdb_url):
    """Parameters reach the engine escaped (chdb_param): an id with a quote, a backslash and
    a tab is found again by the key look-up, so its repeat is a duplicate, not a new event."""
    CustomerFactory(external_id="acme")
    odd = "o'k\\\t\"id"
    body = [event(odd, at=NOW, note="it's a \\ test")]
    assert events_ingest(api_key=None, events=body).counts["accepted"] == 1
    assert events_ingest(api_key=None, events=body).counts["duplicate"] == 1
    assert _store().query("SELECT event_id FROM events") == [(odd,)]
