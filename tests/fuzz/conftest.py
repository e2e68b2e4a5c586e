"""A small world for the fuzzers and the access matrix: two customers (``acme``, ``beta``),
each with a finalized invoice, a meter, and an API key of every scope plus one bound to
``acme``. Built per test (no state shared between tests or xdist workers)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from accounts.models import Customer
from accounts.services import api_key_create
from invoicing.models import Invoice
from metering.services import meter_create
from tests.factories import CustomerFactory
from tests.stripe.sync_support import finalized_invoice

# Who calls: no key, a key that does not exist, each scope, and an admin key bound to acme.
CALLERS = ("none", "wrong", "ingest", "read", "admin", "bound")
WRONG_KEY = "tly_000000000000_not-a-key-that-exists-anywhere-000000000000"


@dataclass(frozen=True)
class World:
    acme: Customer
    beta: Customer
    acme_invoice: Invoice
    beta_invoice: Invoice
    keys: dict[str, str]  # caller -> plaintext key ("" for none)

    def headers(self, caller: str) -> dict[str, str]:
        key = self.keys[caller]
        return {"Authorization": f"Bearer {key}"} if key else {}


@pytest.fixture
def world(db: None) -> World:
    acme = CustomerFactory(external_id="acme", name="Acme")
    beta = CustomerFactory(external_id="beta", name="Beta")
    acme_invoice = finalized_invoice(acme, plan_key="fuzz-a")
    beta_invoice = finalized_invoice(beta, plan_key="fuzz-b")
    meter_create(key="calls", name="Calls", event_type="api_call", aggregation="count")
    # the meters the invoices' plan bills (the usage pages read them)
    meter_create(key="api_calls", name="API calls", event_type="api_calls", aggregation="count")
    meter_create(key="storage", name="Storage", event_type="storage", aggregation="count")
    keys = {"none": "", "wrong": WRONG_KEY}
    for scope in ("ingest", "read", "admin"):
        keys[scope] = api_key_create(name=f"fuzz-{scope}", scope=scope).plaintext
    keys["bound"] = api_key_create(name="fuzz-bound", scope="admin", customer=acme).plaintext
    return World(acme, beta, acme_invoice, beta_invoice, keys)
