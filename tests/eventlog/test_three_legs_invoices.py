"""Invoices from the three legs of issue 16's differential test (PostgreSQL only, log +
PostgreSQL, log + chdb): per-unit and percentage prices billed from each store, then events
that arrive after their period was finalized (late ones of the customer, and one sent under a
reference that became the customer's alias only then) become adjustment lines on the next invoice,
with equal amounts in every leg."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import time_machine
from django.test import override_settings

from accounts.services import customer_alias_add
from invoicing.models import Invoice
from invoicing.services.billing import billing_run
from metering.services import events_ingest, meter_create, rollup_drain
from metering.services.attribution import events_attribute
from tests.eventlog.test_three_legs import drain_with_faults
from tests.eventstore.conftest import chdb_url  # noqa: F401  (fixture)
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract, make_version

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def send(prefix: str, when: datetime, events: list[tuple[Any, ...]], seed: int) -> None:
    """(id, customer, type, timestamp, properties) events, received at ``when``; in log mode
    applied by sinks that die now and then, as in the stream differential."""
    import random

    from metering import eventlog

    body = [
        {"id": f"{prefix}{eid}", "customer": f"{prefix}{who}", "type": kind,
         "timestamp": ts.isoformat(), "properties": props}
        for eid, who, kind, ts, props in events
    ]  # fmt: skip
    with time_machine.travel(when, tick=True):
        assert not events_ingest(api_key=None, events=body).counts.get("rejected")
        if eventlog.event_log_configured():
            drain_with_faults(random.Random(seed))
        rollup_drain()


def charges() -> list[dict[str, Any]]:
    return [
        {"key": "calls", "name": "Calls", "kind": "usage", "meter_key": "inv-calls",
         "price": {"model": "per_unit", "unit_amount": "0.5"}},
        {"key": "fees", "name": "Fees", "kind": "usage", "meter_key": "inv-pay",
         "price": {"model": "percentage", "rate": "2.9", "fixed_amount": "0.30",
                   "free_units": 1}},
    ]  # fmt: skip


def bill(prefix: str) -> dict[str, Any]:
    """January's events, January billed and finalized; a January event attributed in
    February, February billed; late January events sent in March, March billed: what the
    invoices say."""
    acme = CustomerFactory(external_id=f"{prefix}acme", timezone="UTC")
    contract = make_contract(acme, version=make_version(charges()), start=date(2026, 1, 1))
    pay = "payment"
    send(prefix, at(2026, 1, 31, 12), [
        ("c1", "acme", "call", at(2026, 1, 5), {}),
        ("c2", "acme", "call", at(2026, 1, 6), {}),
        ("c2", "acme", "call", at(2026, 1, 6), {}),  # duplicate
        ("p1", "acme", pay, at(2026, 1, 7), {"amount": "100"}),
        ("p2", "acme", pay, at(2026, 1, 8), {"amount": "40.5"}),
        ("p2", "acme", pay, at(2026, 1, 8), {"amount": "41"}),  # conflict: not billed
        ("g1", "later", pay, at(2026, 1, 9), {"amount": "10"}),  # unknown customer yet
    ], seed=3)  # fmt: skip
    with time_machine.travel(at(2026, 2, 3), tick=True):
        billing_run(now=at(2026, 2, 3), contract_ids=[contract.pk])
    # The unknown reference turns out to be acme's: an alias attributes its January event
    # after January was finalized (flagged late on either store: February adjusts January).
    customer_alias_add(customer=acme, alias=f"{prefix}later")
    with time_machine.travel(at(2026, 2, 11), tick=True):
        events_attribute(identifiers=[f"{prefix}later"])
        rollup_drain()
    send(prefix, at(2026, 2, 12), [
        ("feb-p", "acme", pay, at(2026, 2, 9), {"amount": "30"}),
    ], seed=4)  # fmt: skip
    with time_machine.travel(at(2026, 3, 3), tick=True):
        billing_run(now=at(2026, 3, 3), contract_ids=[contract.pk])
    # Late January events sent in March: March's invoice adjusts January again.
    send(prefix, at(2026, 3, 10), [
        ("late-c", "acme", "call", at(2026, 1, 20), {}),
        ("late-p", "acme", pay, at(2026, 1, 21), {"amount": "20"}),
        ("p1", "acme", pay, at(2026, 1, 7), {"amount": "100"}),  # re-sent: duplicate
    ], seed=5)  # fmt: skip
    with time_machine.travel(at(2026, 4, 3), tick=True):
        billing_run(now=at(2026, 4, 3), contract_ids=[contract.pk])
    invoices = Invoice.objects.filter(contract=contract).order_by("period_start")
    seen: dict[str, Any] = {}
    for invoice in invoices:
        month = invoice.period_start.strftime("%Y-%m")
        seen[month] = (invoice.status, invoice.total.amount)
        seen[f"{month}/lines"] = sorted(
            (ln.kind, ln.charge_key, str(ln.quantity), ln.amount.amount,
             ln.adjusts_invoice_id is not None)
            for ln in invoice.lines.all()
        )  # fmt: skip
    return seen


@override_settings(METERING_MAX_EVENT_AGE_DAYS=90)  # January events are sent in March
def test_late_events_and_percentage_prices_bill_equally_in_every_leg(event_log, chdb_url):  # noqa: F811
    meter_create(key="inv-calls", name="Calls", event_type="call", aggregation="count")
    meter_create(
        key="inv-pay", name="Pay", event_type="payment", aggregation="sum", value_property="amount"
    )
    with override_settings(TALLY_EVENT_STORE="postgres"):
        with override_settings(TALLY_EVENT_LOG=""):
            direct = bill("pg-")
        logged_pg = bill("lp-")
    logged_ch = bill("lc-")
    assert direct == logged_pg == logged_ch
    assert direct["2026-01"][0] == "finalized"

    def adjusted(month: str) -> list[tuple[str, bool]]:
        lines = [line for line in direct[f"{month}/lines"] if line[0] == "adjustment"]
        return sorted((key, amount > 0 and adjusts) for _k, key, _q, amount, adjusts in lines)

    assert adjusted("2026-02") == [("fees", True)]  # the attributed payment of 10
    assert adjusted("2026-03") == [("calls", True), ("fees", True)]  # one call, 20 paid
