"""The differential tests' shared stream and readings (tests/eventstore, tests/eventlog): one
event stream with duplicates, conflicts, unattributed events attributed later, events from days
ago and out-of-order batches; the usage series per customer, meter, group and window a run
produced; invoice-like totals priced from them."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from typing import Any

from accounts.models import Customer
from metering.ingest.service import events_ingest
from metering.models import Meter
from metering.selectors import usage_for_customers, usage_for_period, usage_series
from metering.services import rollup_drain
from metering.services.attribution import events_attribute
from tests.factories import CustomerFactory
from tests.metering.helpers import NOW, event

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


def stream(seed: int) -> list[list[dict[str, Any]]]:
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


def customers(prefix: str) -> None:
    """The run's customers known from the start ("late" is created by ``attribute_late``)."""
    for name in NAMES[:-1]:
        CustomerFactory(
            external_id=f"{prefix}{name}", name=f"{prefix}{name}", timezone="Asia/Kolkata"
        )


def body(prefix: str, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        event(f"{prefix}{e['id']}", customer=f"{prefix}{e['customer']}", type_=e["type"],
              at=e["at"], **e["props"])
        for e in batch
    ]  # fmt: skip


def attribute_late(prefix: str) -> None:
    """The customer whose events arrived before it existed; then the rollups catch up."""
    CustomerFactory(external_id=f"{prefix}late", name=f"{prefix}late")
    events_attribute(identifiers=[f"{prefix}late"])
    rollup_drain()


def run(prefix: str, batches: list[list[dict[str, Any]]]) -> list[list[str]]:
    """The direct path: each batch answered with its per-event outcomes."""
    customers(prefix)
    outcomes = []
    for batch in batches:
        result = events_ingest(api_key=None, events=body(prefix, batch))
        outcomes.append([e["status"] for e in result.events])
    attribute_late(prefix)
    return outcomes


def dump(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, (list, tuple)):
        return [dump(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: dump(getattr(value, k)) for k in value.__dataclass_fields__ if k != "meter"}
    return value


def usage(prefix: str) -> dict[str, Any]:
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
                    seen[f"{meter.key}/{name}/{window}/{group}"] = dump(usage_series(
                        customer=customer, meter=meter, start=lo, end=end, window=window,
                        tz=tz, group_by=group,
                    ))  # fmt: skip
            seen[f"{meter.key}/{name}/period"] = dump(
                usage_for_period(customer=customer, meter=meter, start=start, end=end)
            )
        batch = usage_for_customers(
            customer_ids=[c.pk for c in customers.values()], meter=meter, start=start, end=end
        )
        seen[f"{meter.key}/batch"] = sorted(
            (c.external_id[len(prefix) :], dump(batch[c.pk].total)) for c in customers.values()
        )
    return seen


def priced(readings: dict[str, Any]) -> dict[str, Decimal]:
    """An invoice-like total per customer: each meter's period total times a unit price."""
    totals: dict[str, Decimal] = {}
    for key, value in readings.items():
        meter, name, window = [*key.split("/"), ""][:3]
        if window == "period":
            amount = (value["total"] or Decimal(0)) * Decimal(PRICE[meter])
            totals[name] = totals.get(name, Decimal(0)) + amount.quantize(Decimal("0.01"))
    return totals
