"""The same event stream (duplicates, conflicts, unattributed and late events, re-sends across
requests) fed to the direct path and through the log + sink ends in the same stored rows,
conflict rows, late flags and rollups. Ids are prefixed per path so both live in one database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import override_settings

from metering.late import register_closed_period_resolver, unregister_closed_period_resolver
from metering.models import EventConflict, HourlyRollup, UsageEvent
from metering.services import events_ingest, meter_create, rollup_drain
from tests.eventlog.test_log_ingest import drain
from tests.factories import CustomerFactory
from tests.metering.helpers import NOW, event

pytestmark = pytest.mark.django_db


def stream(prefix: str) -> list[list[dict[str, Any]]]:
    closed = NOW.replace(hour=0, minute=0)
    return [
        [
            event(f"{prefix}1", at=NOW, n=1),
            event(f"{prefix}2", customer="beta", at=NOW, n=2),
            event(f"{prefix}1", at=NOW, n=1),  # duplicate in the request
            event(f"{prefix}3", customer="ghost", at=NOW),  # unattributed
            event(f"{prefix}late", at=closed - timedelta(hours=2), n=5),
        ],
        [
            event(f"{prefix}2", customer="beta", at=NOW, n=2),  # duplicate across requests
            event(f"{prefix}1", at=NOW, n=7),  # conflict
            event(f"{prefix}4", customer="beta", at=NOW - timedelta(hours=1), n=3),
        ],
        [event(f"{prefix}1", at=NOW, n=8), {"id": f"{prefix}bad", "customer": "acme"}],
    ]


def snapshot(prefix: str) -> dict[str, Any]:
    rows = {
        e.event_id.removeprefix(prefix): (
            e.customer_id,
            e.type,
            e.properties,
            e.timestamp,
            e.is_late,
        )
        for e in UsageEvent.objects.filter(event_id__startswith=prefix)
    }
    conflicts = sorted(
        (c.event_id.removeprefix(prefix), str(c.payload.get("properties")))
        for c in EventConflict.objects.filter(event_id__startswith=prefix)
    )
    return {"rows": rows, "conflicts": conflicts}


@time_machine.travel(NOW, tick=True)
def test_direct_and_log_paths_store_the_same(event_log, customer) -> None:
    CustomerFactory(external_id="beta")
    meter = meter_create(
        key="calls", name="Calls", event_type="api_request", aggregation="sum", value_property="n"
    )
    closed_through = NOW.replace(hour=0, minute=0)

    def resolver(customer_ids):  # acme's periods before today are invoiced
        return {customer.pk: closed_through} if customer.pk in customer_ids else {}

    register_closed_period_resolver(resolver)
    try:
        with override_settings(TALLY_EVENT_LOG=""):
            for batch in stream("d-"):
                events_ingest(api_key=None, events=batch)
        for batch in stream("l-"):
            events_ingest(api_key=None, events=batch)
        drain()
        # a sink re-run over an empty log changes nothing
        assert drain() == {}
        rollup_drain()
    finally:
        unregister_closed_period_resolver(resolver)
    direct, logged = snapshot("d-"), snapshot("l-")
    assert direct == logged
    assert len(direct["rows"]) == 5 and len(direct["conflicts"]) == 2
    assert direct["rows"]["late"][4] is True and direct["rows"]["1"][4] is False
    total = sum(r.value for r in HourlyRollup.objects.filter(meter_version__meter=meter))
    assert total == 2 * (1 + 2 + 5 + 3)  # both paths counted once each
