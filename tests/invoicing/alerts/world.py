"""Builders for alert tests: a customer on a plan with a platform fee and per-call pricing, a
meter, events sent through ingest and the rollup worker, and a recorder of emitted events."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from itertools import count
from typing import Any

from accounts.models import Customer
from billingsite.events import register_listener, unregister_listener
from invoicing.alerts.models import Alert
from invoicing.alerts.services import alert_create
from invoicing.models import Contract
from metering.models import Meter
from metering.services import events_ingest, meter_create, rollup_drain
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract, make_version

CALLS = {
    "key": "api_calls",
    "name": "API calls",
    "kind": "usage",
    "meter_key": "api_calls",
    "price": {"model": "per_unit", "unit_amount": "1"},
}
_ids = count()


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def meter() -> Meter:
    existing = Meter.objects.filter(key="api_calls").first()
    if existing is not None:
        return existing
    meter_create(
        key="api_calls",
        name="API calls",
        event_type="api_request",
        aggregation="count",
        group_by=["region"],
    )
    return Meter.objects.get(key="api_calls")


def customer_on_plan(external_id: str = "acme", plan: str = "pro") -> tuple[Customer, Contract]:
    meter()
    customer = CustomerFactory(external_id=external_id)
    version = make_version([CALLS], key=plan)
    return customer, make_contract(customer, version=version, start=date(2026, 1, 1))


def calls_alert(customer: Customer) -> Alert:
    """The customer's own alert at every 3 API calls (recurring)."""
    return alert_create(
        name="calls",
        type="usage_threshold",
        customer=customer,
        meter=meter(),
        thresholds=[{"value": "3", "recurring": True}],
    )


def send(
    customer: str, n: int, when: datetime, *, region: str = "eu", received: datetime | None = None
) -> None:
    """Ingest ``n`` calls at ``when`` and apply them to the rollups (the hook marks alerts)."""
    events = [
        {
            "id": f"e-{next(_ids)}",
            "customer": customer,
            "type": "api_request",
            "timestamp": (when + timedelta(milliseconds=i)).isoformat(),
            "properties": {"region": region},
        }
        for i in range(n)
    ]
    result = events_ingest(api_key=None, events=events, received_at=received or when)
    assert result.counts.get("accepted") == n, result.counts
    rollup_drain()


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any], str]] = []

    def __call__(self, event_type: str, data: Mapping[str, Any], *, key: str) -> None:
        self.events.append((event_type, dict(data), key))

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [data for kind, data, _ in self.events if kind == event_type]

    def keys(self) -> list[str]:
        return [key for _, _, key in self.events]


@contextmanager
def recorded() -> Iterator[Recorder]:
    recorder = Recorder()
    register_listener("tests.alerts", recorder)
    try:
        yield recorder
    finally:
        unregister_listener("tests.alerts")
