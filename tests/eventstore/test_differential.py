"""The differential test: one event stream (duplicates, conflicts, unattributed events that are
attributed later, events from days ago, out-of-order batches, numeric strings and values the
meters ignore) fed to the PostgreSQL store and to the chdb store; per-event outcomes, usage
series per customer, meter, group and window (aligned and unaligned boundaries, time zones),
the billing run's batched read and priced totals must be equal.

Both runs share the meters; each run has its own customers and event ids (prefix), since
PostgreSQL keeps the unattributed events of both."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.test import override_settings

from accounts.models import Customer
from metering.ingest.service import events_ingest
from metering.models import EventConflict, Meter, UsageEvent
from metering.selectors import usage_for_customers, usage_for_period, usage_series
from metering.services import meter_create, rollup_drain
from metering.services.attribution import events_attribute
from metering.stores import event_store
from tests.factories import CustomerFactory
from tests.metering.helpers import METER_SPECS, NOW, event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]

GAUGE = {
    "key": "disk",
    "event_type": "disk",
    "aggregation": "time_weighted_sum",
    "value_property": "gb",
    "group_by": ["region"],
}
PRICE = {"calls": "0.001", "eu-calls": "0.002", "bytes": "0.5", "peak": "3", "last": "2",
         "users": "7", "disk": "0.01"}  # fmt: skip
NAMES = ["a", "b", "c", "late"]  # "late": a customer created after its events arrived


def _stream(seed: int) -> list[list[dict[str, Any]]]:
    """Batches of raw events, ids and customers without the run prefix."""
    rng = random.Random(seed)
    originals: list[dict[str, Any]] = []
    for i in range(600):
        at = NOW - timedelta(minutes=rng.randrange(0, 4 * 24 * 60), seconds=rng.randrange(60))
        props: dict[str, Any] = {"region": rng.choice(["eu", "us", "ap"])}
        if rng.random() < 0.9:
            n = rng.choice([rng.randrange(100), round(rng.random() * 50, 3)])
            props["n"] = str(n) if rng.random() < 0.2 else n
        if rng.random() < 0.7:
            props["user"] = f"u{rng.randrange(12)}"
        if i % 10 == 0:
            originals.append(
                {"id": f"g{i}", "customer": rng.choice(NAMES), "type": "disk", "at": at,
                 "props": {"region": props["region"], "gb": rng.randrange(1, 40)}}
            )  # fmt: skip
            continue
        originals.append(
            {"id": f"e{i}", "customer": rng.choice(NAMES), "type": "api_request", "at": at,
             "props": props}
        )  # fmt: skip
    sent = list(originals)
    sent += [dict(rng.choice(originals)) for _ in range(80)]  # retries: duplicates
    for _ in range(20):  # same id, other content: conflicts
        twin = dict(rng.choice(originals))
        twin["props"] = {**twin["props"], "n": 999}
        sent.append(twin)
    rng.shuffle(sent)  # arrival order unrelated to event time
    batches, i = [], 0
    while i < len(sent):
        size = rng.choice([1, 7, 50, 120])
        batches.append(sent[i : i + size])
        i += size
    return batches


def _run(prefix: str, batches: list[list[dict[str, Any]]]) -> list[list[str]]:
    for name in NAMES[:-1]:
        CustomerFactory(
            external_id=f"{prefix}{name}", name=f"{prefix}{name}", timezone="Asia/Kolkata"
        )
    outcomes = []
    for batch in batches:
        body = [
            event(f"{prefix}{e['id']}", customer=f"{prefix}{e['customer']}", type_=e["type"],
                  at=e["at"], **e["props"])
            for e in batch
        ]  # fmt: skip
        result = events_ingest(api_key=None, events=body)
        outcomes.append([e["status"] for e in result.events])
    CustomerFactory(external_id=f"{prefix}late", name=f"{prefix}late")
    events_attribute(identifiers=[f"{prefix}late"])
    rollup_drain()
    return outcomes


def _dump(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, (list, tuple)):
        return [_dump(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: _dump(getattr(value, k)) for k in value.__dataclass_fields__ if k != "meter"}
    return value


def _usage(prefix: str) -> dict[str, Any]:
    start, end = NOW - timedelta(days=4, minutes=7), NOW + timedelta(minutes=1)
    customers = {
        c.external_id[len(prefix) :]: c
        for c in Customer.objects.filter(external_id__startswith=prefix)
    }
    seen: dict[str, Any] = {}
    for meter in Meter.objects.all():
        dims = list(meter.versions.get().group_by or [])
        for name, customer in customers.items():
            for window, tz, lo in (("hour", "UTC", start), ("day", None, NOW - timedelta(days=5)),
                                   ("month", "America/St_Johns", start)):  # fmt: skip
                for group in ([], dims):
                    seen[f"{meter.key}/{name}/{window}/{group}"] = _dump(usage_series(
                        customer=customer, meter=meter, start=lo, end=end, window=window,
                        tz=tz, group_by=group,
                    ))  # fmt: skip
            seen[f"{meter.key}/{name}/period"] = _dump(
                usage_for_period(customer=customer, meter=meter, start=start, end=end)
            )
        batch = usage_for_customers(
            customer_ids=[c.pk for c in customers.values()], meter=meter, start=start, end=end
        )
        seen[f"{meter.key}/batch"] = sorted(
            (c.external_id[len(prefix) :], _dump(batch[c.pk].total)) for c in customers.values()
        )
    return seen


def _priced(usage: dict[str, Any]) -> dict[str, Decimal]:
    """An invoice-like total per customer: each meter's period total times a unit price."""
    totals: dict[str, Decimal] = {}
    for key, value in usage.items():
        meter, name, window = [*key.split("/"), ""][:3]
        if window == "period":
            amount = (value["total"] or Decimal(0)) * Decimal(PRICE[meter])
            totals[name] = totals.get(name, Decimal(0)) + amount.quantize(Decimal("0.01"))
    return totals


def test_postgres_and_chdb_stores_give_equal_answers(chdb_url):
    for spec in [*METER_SPECS, GAUGE]:
        meter_create(name=spec["key"], **spec)
    batches = _stream(seed=16)
    with override_settings(TALLY_EVENT_STORE="postgres"):
        pg_outcomes = _run("pg-", batches)
        with time_machine.travel(NOW + timedelta(minutes=2), tick=False):  # gauges run to now
            pg_usage = _usage("pg-")
    ch_outcomes = _run("ch-", batches)
    with time_machine.travel(NOW + timedelta(minutes=2), tick=False):
        ch_usage = _usage("ch-")
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
    assert _priced(ch_usage) == _priced(pg_usage)
    assert sum(_priced(pg_usage).values()) > 0
    # A conflict points at the PostgreSQL row it conflicts with, or at none when that event
    # is kept in the engine: never at an unrelated row that happens to have the engine's id.
    for conflict in EventConflict.objects.filter(event_id__startswith="ch-"):
        assert conflict.existing is None or conflict.existing.event_id == conflict.event_id
    assert EventConflict.objects.filter(event_id__startswith="ch-").exists()
