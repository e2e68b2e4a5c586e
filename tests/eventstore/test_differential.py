"""The differential test: one event stream (duplicates, conflicts, unattributed events that are
attributed later, events from days ago, out-of-order batches, numeric strings and values the
meters ignore) fed to the PostgreSQL store and to the chdb store; per-event outcomes, usage
series per customer, meter, group and window (aligned and unaligned boundaries, time zones),
the billing run's batched read and priced totals must be equal.

Both runs share the meters; each run has its own customers and event ids (prefix), since
PostgreSQL keeps the unattributed events of both."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import override_settings

from metering.models import EventConflict, UsageEvent
from metering.services import meter_create
from metering.stores import event_store
from tests.eventstore.differential import GAUGE, priced, run, stream, usage
from tests.metering.helpers import METER_SPECS, NOW

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]


def test_postgres_and_chdb_stores_give_equal_answers(chdb_url):
    for spec in [*METER_SPECS, GAUGE]:
        meter_create(name=spec["key"], **spec)
    batches = stream(seed=16)
    with override_settings(TALLY_EVENT_STORE="postgres"):
        pg_outcomes = run("pg-", batches)
        with time_machine.travel(NOW + timedelta(minutes=2), tick=False):  # gauges run to now
            pg_usage = usage("pg-")
    ch_outcomes = run("ch-", batches)
    with time_machine.travel(NOW + timedelta(minutes=2), tick=False):
        ch_usage = usage("ch-")
    assert ch_outcomes == pg_outcomes
    store = event_store()
    assert store.name == "columnar"
    assert store.query("SELECT count() FROM events WHERE startsWith(event_id, 'ch-')")[0][0] > 500
    in_pg = UsageEvent.objects.filter(event_id__startswith="ch-")  # arrived unattributed only
    assert set(in_pg.values_list("customer_ref", flat=True)) == {"ch-late"}
    flat = [s for batch in pg_outcomes for s in batch]
    assert {"accepted", "duplicate", "conflict", "unattributed"} <= set(flat)
    assert pg_usage.keys() == ch_usage.keys()
    differing = [k for k in pg_usage if pg_usage[k] != ch_usage[k]]
    assert not differing, (
        sorted({k.split("/")[0] for k in differing}),
        differing[:3],
        pg_usage[differing[0]],
        ch_usage[differing[0]],
    )
    assert priced(ch_usage) == priced(pg_usage)
    assert sum(priced(pg_usage).values()) > 0
    # A conflict points at the PostgreSQL row it conflicts with, or at none when that event
    # is kept in the engine: never at an unrelated row that happens to have the engine's id.
    for conflict in EventConflict.objects.filter(event_id__startswith="ch-"):
        assert conflict.existing is None or conflict.existing.event_id == conflict.event_id
    assert EventConflict.objects.filter(event_id__startswith="ch-").exists()
