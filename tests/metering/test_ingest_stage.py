"""The staging table is created once per connection and emptied by the upsert; customers are
resolved inside the upsert for unbound keys (issue 15). Outcomes, attribution and the rollup
queue row stay what they were."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from accounts.services import api_key_create
from metering.ingest import store
from metering.models import RollupQueue, UsageEvent
from metering.services import events_ingest
from tests.factories import CustomerAliasFactory, CustomerFactory
from tests.metering.helpers import event

pytestmark = pytest.mark.django_db(transaction=True)


class Boom(Exception):
    pass


def _statuses(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [o["status"] for o in result.events]


def test_a_new_connection_has_the_table_and_a_rolled_back_ingest_keeps_it() -> None:
    """The table is created when the connection opens, in autocommit: an ingest transaction
    that rolls back (here the first one on a new connection) cannot take it away."""
    CustomerFactory(external_id="acme")
    connection.close()
    with pytest.raises(Boom), transaction.atomic():
        events_ingest(api_key=None, events=[event("rb-1")])
        raise Boom
    result = events_ingest(api_key=None, events=[event("rb-2")])
    assert _statuses(result) == ["accepted"]
    assert connection.connection in store._staged
    assert not UsageEvent.objects.filter(event_id="rb-1").exists()


def test_two_batches_in_one_transaction_and_the_table_is_left_empty() -> None:
    CustomerFactory(external_id="acme")
    events_ingest(api_key=None, events=[event("warm")])  # the table exists and is remembered
    with transaction.atomic():
        first = events_ingest(api_key=None, events=[event("t-1"), event("t-2")])
        second = events_ingest(api_key=None, events=[event("t-2"), event("t-3")])
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {store._STAGE}")  # noqa: S608
            assert cursor.fetchone()[0] == 0
    assert _statuses(first) == ["accepted", "accepted"]
    assert _statuses(second) == ["duplicate", "accepted"]
    assert UsageEvent.objects.filter(event_id__in=["t-1", "t-2", "t-3"]).count() == 3


def test_customers_resolved_in_the_upsert_by_id_and_alias() -> None:
    acme = CustomerFactory(external_id="acme")
    globex = CustomerFactory(external_id="globex")
    CustomerAliasFactory(customer=globex, alias="proj_7")
    events_ingest(api_key=None, events=[event("warm", customer="acme")])
    queued_before = RollupQueue.objects.count()
    result = events_ingest(
        api_key=None,
        events=[
            event("a-1", customer="acme"),
            event("a-2", customer="proj_7"),
            event("a-3", customer="nobody"),
            event("a-1", customer="acme"),
        ],
    )
    assert _statuses(result) == ["accepted", "accepted", "unattributed", "duplicate"]
    rows = UsageEvent.objects.filter(event_id__startswith="a-")
    stored = dict(rows.values_list("event_id", "customer_id"))
    assert stored == {"a-1": acme.pk, "a-2": globex.pk, "a-3": None}
    assert UsageEvent.objects.get(event_id="a-3").attributed_at is None
    queued = RollupQueue.objects.order_by("-pk").first()
    assert RollupQueue.objects.count() == queued_before + 1
    assert queued is not None and sorted(queued.event_pks) == sorted(
        UsageEvent.objects.filter(event_id__in=["a-1", "a-2"]).values_list("pk", flat=True)
    )


def test_a_bound_key_still_refuses_other_customers() -> None:
    acme = CustomerFactory(external_id="acme")
    CustomerFactory(external_id="globex")
    key = api_key_create(name="bound", scope="ingest", customer=acme).api_key
    result = events_ingest(
        api_key=key, events=[event("b-1", customer="acme"), event("b-2", customer="globex")]
    )
    assert _statuses(result) == ["accepted", "rejected"]
    assert result.events[1]["reason"] == "customer_not_allowed"


def test_a_connection_without_the_table_creates_it_in_the_transaction() -> None:
    CustomerFactory(external_id="acme")
    events_ingest(api_key=None, events=[event("w-1")])
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {store._STAGE}")
    store._staged.discard(connection.connection)
    assert _statuses(events_ingest(api_key=None, events=[event("w-2")])) == ["accepted"]
    assert _statuses(events_ingest(api_key=None, events=[event("w-3")])) == ["accepted"]
