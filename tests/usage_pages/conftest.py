"""A billed world for the usage pages: two customers on the same meters, a finalized January
invoice each, February usage so far, a credit grant; ``now`` is frozen mid-February."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from accounts.models import Customer
from accounts.services import customer_user_create
from invoicing.entitlements.selectors import memo_clear
from invoicing.models import Invoice, PlanVersion
from invoicing.services.billing import billing_run
from metering.services import events_ingest, meter_create, rollup_drain
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract, make_version

NOW = datetime(2026, 2, 15, 12, tzinfo=UTC)
PASSWORD = "usage-pages-password-1"


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def send(customer: str, prefix: str, count: int, when: datetime, region: str = "eu") -> None:
    events = [
        {
            "id": f"{customer}-{prefix}-{i}",
            "customer": customer,
            "type": "api_request",
            "timestamp": (when + timedelta(seconds=i)).isoformat(),
            "properties": {"region": region},
        }
        for i in range(count)
    ]
    result = events_ingest(api_key=None, events=events, received_at=when + timedelta(hours=1))
    assert result.counts.get("accepted") == count, result.counts


@dataclass
class World:
    acme: Customer
    globex: Customer
    acme_invoice: Invoice
    globex_invoice: Invoice


def usage_plan() -> PlanVersion:
    """The two meters (count; count by region) and a plan on them: a platform fee, a graduated
    usage charge and a matrix charge by region; what the usage pages are tested with."""
    meter_create(key="api_calls", name="API calls", event_type="api_request", aggregation="count")
    meter_create(
        key="calls_by_region",
        name="Calls by region",
        event_type="api_request",
        aggregation="count",
        group_by=["region"],
    )
    return make_version(
        [
            {
                "key": "platform",
                "name": "Platform fee",
                "kind": "fixed",
                "price": {"model": "flat", "amount": "100.00"},
            },
            {
                "key": "api_calls",
                "name": "API calls",
                "kind": "usage",
                "meter_key": "api_calls",
                "price": {
                    "model": "graduated",
                    "tiers": [
                        {"up_to": "10", "unit_amount": "0.5", "flat_amount": "0"},
                        {"up_to": None, "unit_amount": "0.25", "flat_amount": "1"},
                    ],
                },
            },
            {
                "key": "regional",
                "name": "Regional",
                "kind": "usage",
                "meter_key": "calls_by_region",
                "price": {
                    "model": "matrix",
                    "dimensions": ["region"],
                    "rates": [
                        {"match": {"region": "eu"}, "unit_amount": "0.1"},
                        {"match": {"region": "us"}, "unit_amount": "0.333"},
                    ],
                },
            },
        ]
    )


def build_world() -> World:
    version = usage_plan()
    acme = CustomerFactory(external_id="acme", name="Acme", timezone="America/New_York")
    globex = CustomerFactory(external_id="globex", name="Globex", timezone="Europe/Berlin")
    make_contract(acme, version=version, start=date(2026, 1, 1), tz="America/New_York")
    make_contract(globex, version=version, start=date(2026, 1, 1), tz="Europe/Berlin")
    send("acme", "jan", 23, at(2026, 1, 10, 12))
    send("acme", "jan-us", 7, at(2026, 1, 20, 12), region="us")
    send("globex", "jan", 101, at(2026, 1, 12, 12))
    rollup_drain()
    billing_run(now=at(2026, 2, 3))
    send("acme", "feb", 17, at(2026, 2, 3, 15))
    send("acme", "feb-us", 5, at(2026, 2, 14, 15), region="us")
    send("globex", "feb", 40, at(2026, 2, 10, 9))
    rollup_drain()
    return World(
        acme, globex, Invoice.objects.get(customer=acme), Invoice.objects.get(customer=globex)
    )


@pytest.fixture
def world(db: None) -> World:
    with time_machine.travel(at(2026, 2, 3), tick=False):
        built = build_world()
    return built


@pytest.fixture
def frozen_now() -> object:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def signed_in_client(customer: Customer, username: str) -> Client:
    customer_user_create(
        customer=customer, username=username, email=f"{username}@example.com", password=PASSWORD
    )
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client


@pytest.fixture
def acme_client(world: World) -> Client:
    return signed_in_client(world.acme, "acme-ops")


MONEY = Decimal


@pytest.fixture(autouse=True)
def _fresh_entitlements_memo() -> Iterator[None]:
    """The entitlements memo lives in the process and expires by the monotonic clock, which
    frozen time does not stop: an overview rendered by an earlier test memoised "no features"
    and a later test creating one read that (the flaky test_overview_lists_entitlements).
    Each test starts and ends with an empty memo, as tests/entitlements does."""
    memo_clear()
    yield
    memo_clear()
