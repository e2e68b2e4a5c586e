"""A billed customer relative to the real clock, for the browser tests (the live server and
Chromium run on real time): last month invoiced and finalized, this month's usage so far."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.utils import timezone

from accounts.models import Customer
from accounts.services import customer_alias_add, customer_user_create
from invoicing.models import Contract, Invoice
from invoicing.services.billing import billing_run
from metering.services import rollup_drain
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract
from tests.usage_pages.conftest import PASSWORD, send, usage_plan


@dataclass
class LiveWorld:
    customer: Customer
    other: Customer
    contract: Contract
    invoice: Invoice
    this_month: date


def _month_start(day: date) -> date:
    return day.replace(day=1)


def build_live_world(username: str = "ops-user") -> LiveWorld:
    now = timezone.now()
    this_month = _month_start(now.date())
    last_month = _month_start(this_month - timedelta(days=1))
    midnight = datetime(this_month.year, this_month.month, 1, tzinfo=UTC)
    version = usage_plan()
    customer = CustomerFactory(external_id="acme-prod", name="Acme Rockets", timezone="UTC")
    other = CustomerFactory(external_id="globex", name="Globex", timezone="UTC")
    customer_alias_add(customer=customer, alias="acme-legacy-42")
    contract = make_contract(customer, version=version, start=last_month, tz="UTC")
    make_contract(other, version=version, start=last_month, tz="UTC")
    last = datetime(last_month.year, last_month.month, 1, tzinfo=UTC)
    send("acme-prod", "last", 23, last + timedelta(days=9, hours=12))
    send("acme-prod", "last-us", 7, last + timedelta(days=19, hours=12), region="us")
    send("globex", "last", 101, last + timedelta(days=3))
    rollup_drain()
    billing_run(now=midnight + timedelta(days=2))
    early = min(now - timedelta(minutes=5), midnight + timedelta(hours=1))
    send("acme-prod", "now", 17, max(midnight, early - timedelta(minutes=1)))
    send("globex", "now", 40, max(midnight, early - timedelta(minutes=1)))
    rollup_drain()
    customer_user_create(
        customer=customer, username=username, email="ops@acme.example", password=PASSWORD
    )
    return LiveWorld(customer, other, contract, Invoice.objects.get(customer=customer), this_month)
