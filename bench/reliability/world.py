"""The data a fault run or soak starts from, written through Tally's own services: customers
(with billing emails, so each is synced to Stripe through the outbox), a count meter, a plan,
contracts that started months ago (so a billing run has periods to bill), a card on each Stripe
customer (so Stripe charges the invoices and sends the webhooks), and API keys."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Any

import requests

from bench.reliability.stack import Stack, log

PLAN = [
    {
        "key": "platform",
        "name": "Platform fee",
        "kind": "fixed",
        "price": {"model": "flat", "amount": "20.00"},
    },
    {
        "key": "api_calls",
        "name": "API calls",
        "kind": "usage",
        "meter_key": "api_calls",
        "price": {"model": "per_unit", "unit_amount": "0.001"},
    },
]


@dataclass
class World:
    customers: list[str]  # external ids
    ingest_key: str
    read_key: str
    admin_key: str


def build(stack: Stack, *, customers: int) -> World:
    from accounts.services import api_key_create, customer_create
    from metering.services import meter_create

    meter_create(key="api_calls", name="API calls", event_type="api_request", aggregation="count")
    external_ids = [f"rel-{i:04d}" for i in range(customers)]
    for external_id in external_ids:
        customer_create(
            external_id=external_id,
            name=f"Reliability {external_id}",
            email=f"{external_id}@x.test",
        )
    world = World(
        customers=external_ids,
        ingest_key=api_key_create(name="reliability ingest", scope="ingest").plaintext,
        read_key=api_key_create(name="reliability read", scope="read").plaintext,
        admin_key=api_key_create(name="reliability admin", scope="admin").plaintext,
    )
    log(f"{customers} customers created; waiting for their Stripe sync")
    wait_synced()
    attach_cards(stack)
    return world


def contracts_create(*, start: date, customer_ids: list[str] | None = None) -> int:
    """Put customers on the plan from ``start`` (monthly, anchor day 1, charged on Stripe)."""
    from accounts.models import Customer
    from invoicing.models import Plan
    from invoicing.services.catalog import plan_create, plan_version_create
    from invoicing.services.contracts import contract_create

    plan = Plan.objects.filter(key="reliability").first()
    if plan is None:
        plan = plan_create(key="reliability", name="Reliability", currency="USD")
        plan_version_create(plan=plan, charges=PLAN)
    version = plan.versions.order_by("-version").first()
    assert version is not None
    customers = Customer.objects.filter(contracts__isnull=True)
    if customer_ids is not None:
        customers = customers.filter(external_id__in=customer_ids)
    made = 0
    for customer in customers:
        contract_create(
            customer=customer,
            plan_version=version,
            start_date=start,
            billing_anchor_day=1,
            collection_method="charge_automatically",
        )
        made += 1
    return made


def _unsynced() -> int:
    """Customers not on Stripe yet, or whose sync (create, then profile update) is unsent: a
    card attached before the update lands is not the default any more on localstripe."""
    from accounts.models import Customer
    from billingsite.outbox.models import OutboxMessage

    return (
        Customer.objects.filter(stripe_customer_id="").count()
        + OutboxMessage.objects.filter(topic="stripe.customer.sync").exclude(state="sent").count()
    )


def wait_synced(timeout: float = 300) -> float:
    return wait_for(lambda: _unsynced() == 0, timeout=timeout, what="every customer on Stripe")


def attach_cards(stack: Stack, external_ids: list[str] | None = None) -> None:
    """A default card on each (or these) Stripe customer(s), straight on localstripe (not
    through the proxy: this is the customer's doing, not Tally's)."""
    from accounts.models import Customer
    from billingsite.stripe_loopback.process import LOCALSTRIPE_API_KEY

    auth = (LOCALSTRIPE_API_KEY, "")
    base = stack.stripe.base_url
    customers = Customer.objects.exclude(stripe_customer_id="")
    if external_ids is not None:
        customers = customers.filter(external_id__in=external_ids)
    for stripe_id in customers.values_list("stripe_customer_id", flat=True):
        card = stack.stripe.card_payment_method("4242424242424242")
        requests.post(
            f"{base}/v1/payment_methods/{card}/attach",
            data={"customer": stripe_id},
            auth=auth,
            timeout=10,
        ).raise_for_status()
        requests.post(
            f"{base}/v1/customers/{stripe_id}",
            data={"invoice_settings[default_payment_method]": card},
            auth=auth,
            timeout=10,
        ).raise_for_status()


def wait_for(condition: Any, *, timeout: float, what: str, interval: float = 0.5) -> float:
    """Poll ``condition`` until true; seconds it took. Database errors during an outage count
    as "not yet"."""
    from django.db import connection

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if condition():
                return time.monotonic() - started
        except Exception:
            connection.close()
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
