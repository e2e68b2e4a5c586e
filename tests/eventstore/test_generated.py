"""The scale benchmark's data (``bench.eventgen``, ``bench/eventstore_scale.py``) is right:
the same 100,000 events generated inside ClickHouse (through the store's materialized views)
and inside PostgreSQL (rollups by the backfill code) are the same rows, and both stores answer
the usage selectors alike. A 100-million-event measurement is only worth its data."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import override_settings

from accounts.models import Customer
from bench import eventgen
from metering.models import Meter
from metering.selectors import usage_for_period, usage_series
from metering.services import meter_create
from metering.stores import event_store
from metering.stores.columnar.store import ColumnarStore

pytestmark = [pytest.mark.django_db]

EVENTS = 100_000
CUSTOMERS = 40


def _chdb_rows(store: ColumnarStore) -> list[tuple]:
    return [
        (eid, int(cid), ref, ts, json.loads(props), digest)
        for eid, cid, ref, ts, props, digest in store.query(
            "SELECT event_id, customer_id, customer_ref, timestamp, properties, content_hash"
            " FROM events ORDER BY event_id"
        )
    ]


def _pg_rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_id, customer_id, customer_ref, timestamp, properties::text,"
            " encode(content_hash, 'hex')"
            ' FROM metering_usageevent ORDER BY event_id COLLATE "C"'
        )
        return [(e, c, r, t, json.loads(p), d) for e, c, r, t, p, d in cursor.fetchall()]


def _answers(customers: list[Customer]) -> dict[str, object]:
    """Usage pages (daily, grouped; hourly across an unaligned start) and invoice totals."""
    out: dict[str, object] = {}
    oct_, nov = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    odd = datetime(2026, 9, 14, 10, 7, 30, tzinfo=UTC)  # cuts a rollup bucket: raw edge reads
    for meter in Meter.objects.order_by("key"):
        dims = ["region"] if meter.key == "bytes" else []
        for customer in customers:
            k = f"{meter.key}/{customer.external_id}"
            out[f"{k}/day"] = usage_series(customer=customer, meter=meter, start=oct_, end=nov,
                                           window="day", tz="UTC", group_by=dims)  # fmt: skip
            out[f"{k}/hour"] = usage_series(customer=customer, meter=meter, start=odd,
                                            end=datetime(2026, 9, 15, 3, 52, tzinfo=UTC),
                                            window="hour", tz="Asia/Kolkata")  # fmt: skip
            out[f"{k}/quarter"] = usage_for_period(customer=customer, meter=meter,
                                                   start=eventgen.START, end=nov)  # fmt: skip
    return out


def test_generated_events_are_the_same_in_both_stores_and_answer_alike(chdb_url):
    Customer.objects.bulk_create(
        Customer(external_id=f"c{i}", name=f"c{i}", email=f"c{i}@example.com")
        for i in range(CUSTOMERS)
    )
    customers = list(Customer.objects.order_by("pk"))
    first = customers[0].pk
    assert customers[-1].pk == first + CUSTOMERS - 1  # the generator addresses pks by offset
    with connection.cursor() as cursor:  # PostgreSQL: events first, rollups by the backfill
        cursor.execute(eventgen.pg_insert(0, EVENTS, CUSTOMERS, first))
    for spec in eventgen.METERS:
        meter_create(**spec)
    store = event_store()
    assert isinstance(store, ColumnarStore)
    store.sync_views()  # chdb: views first, so the insert fills the rollups (the ingest path)
    assert not store.query("SELECT count() FROM usage_rollup")[0][0]
    store.engine.command(eventgen.chdb_insert(0, EVENTS, CUSTOMERS, first))
    assert store.query("SELECT count() FROM usage_rollup")[0][0] > EVENTS
    assert store.query("SELECT sum(events) FROM daily_counts")[0][0] == EVENTS

    ch_rows, pg_rows = _chdb_rows(store), _pg_rows()
    assert len(ch_rows) == len(pg_rows) == EVENTS
    assert ch_rows[:3] == pg_rows[:3]
    assert ch_rows == pg_rows

    # The shape the benchmark describes: a heavy tail, every customer, every region, 3 months.
    per_customer = sorted(
        (int(n) for (n,) in store.query("SELECT count() FROM events GROUP BY customer_id")),
        reverse=True,
    )
    assert len(per_customer) == CUSTOMERS
    assert per_customer[0] > 3 * EVENTS / CUSTOMERS > 3 * per_customer[-1] / 2
    assert {p["region"] for *_, p, _d in ch_rows[:1000]} == set(eventgen.REGIONS)
    lo, hi = store.query("SELECT min(timestamp), max(timestamp) FROM events")[0]
    assert (lo.month, hi.month) == (8, 10)

    ch = _answers(customers[:8] + customers[-4:])
    with override_settings(TALLY_EVENT_STORE="postgres"):
        pg = _answers(customers[:8] + customers[-4:])
    assert ch.keys() == pg.keys()
    differing = [k for k in pg if pg[k] != ch[k]]
    assert not differing, (differing[:3], pg[differing[0]], ch[differing[0]])
    page = pg[f"bytes/{customers[0].external_id}/day"]
    assert page.total > 0 and len(page.groups) == len(eventgen.REGIONS)  # type: ignore[attr-defined]
