"""Percentage prices on usage charges, from real events in PostgreSQL: each event's value read
with the meter's filters over the half-open period, the free allowance consumed in event order
(and carried across a mid-period amendment), per-event limits streamed, the rest summed in
SQL; the pricing preview API still lists each event."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from invoicing.models import Invoice
from invoicing.services.billing import billing_run
from invoicing.services.contracts import AmendmentInput, contract_amend
from metering.selectors import meter_event_values
from metering.services import events_ingest, meter_create, rollup_drain
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract, make_version

pytestmark = pytest.mark.django_db
D = Decimal


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def send(*events: tuple[str, datetime, str, str]) -> None:
    """(id, timestamp, amount, status) payments of customer "acme"."""
    body = [
        {
            "id": event_id,
            "customer": "acme",
            "type": "payment",
            "timestamp": when.isoformat(),
            "properties": {"amount": amount, "status": status},
        }
        for event_id, when, amount, status in events
    ]
    result = events_ingest(api_key=None, events=body, received_at=at(2026, 2, 1, 1))
    assert result.counts.get("accepted") == len(events), result.counts
    rollup_drain()


def charge(key: str, **price: object) -> dict[str, object]:
    return {
        "key": key,
        "name": key.title(),
        "kind": "usage",
        "meter_key": "payments",
        "price": {"model": "percentage", **price},
    }


@pytest.fixture
def payments():  # type: ignore[no-untyped-def]
    meter = meter_create(
        key="payments",
        name="Payments",
        event_type="payment",
        aggregation="sum",
        value_property="amount",
        filters=[{"property": "status", "equals": "succeeded"}],
    )
    customer = CustomerFactory(external_id="acme", timezone="UTC")
    # Sent out of order on purpose: the allowance follows the events' timestamps.
    send(
        ("p4", at(2026, 1, 20, 9), "10", "succeeded"),
        ("p5", at(2026, 1, 25, 9), "5", "succeeded"),
        ("p1", at(2026, 1, 10, 9), "100", "succeeded"),
        ("p2", at(2026, 1, 11, 9), "50", "succeeded"),
        ("p3", at(2026, 1, 12, 9), "20", "succeeded"),
        ("failed", at(2026, 1, 13, 9), "1000", "failed"),  # the meter's filter drops it
        ("before", at(2025, 12, 31, 23, 59, 59), "7000", "succeeded"),
        ("at-end", at(2026, 2, 1), "9000", "succeeded"),
    )  # [start, end): February's
    return meter, customer


def usage_lines(key: str) -> list:  # type: ignore[type-arg]
    invoice = Invoice.objects.get()
    return list(invoice.lines.filter(kind="usage", charge_key=key).order_by("position"))


def test_percentage_charges_bill_each_event_of_the_period(payments):
    _meter, customer = payments
    make_contract(
        customer,
        version=make_version(
            [
                charge("fees", rate="2.9", fixed_amount="0.30", free_units=2),
                charge("capped", rate="10", min_per_event="0.5", max_per_event="3"),
                charge("plain", rate="1"),
            ]
        ),
    )
    billing_run(now=at(2026, 2, 3))
    (fees,), (capped,), (plain,) = usage_lines("fees"), usage_lines("capped"), usage_lines("plain")
    # 100 and 50 are the two free events; 20, 10, 5: 2.9 % of 35 = 1.015, + 3 x 0.30 = 1.915
    assert (fees.quantity, fees.amount.amount) == (D(185), D("1.92"))
    (summary,) = fees.breakdown
    assert summary == {
        "type": "events",
        "events": 5,
        "value": "185",
        "free_events": 2,
        "free_value": "150",
        "rate": "2.9",
        "percentage_amount": "1.015",
        "fixed_amount": "0.30",
        "fixed_total": "0.90",
        "clamped_minimum": 0,
        "clamped_maximum": 0,
        "clamp_adjustment": "0",
        "amount": "1.915",
    }
    # 10 % per event, clamped to [0.5, 3]: 3 + 3 + 2 + 1 + 0.5
    assert capped.amount.amount == D("9.50")
    assert (capped.breakdown[0]["clamped_maximum"], capped.breakdown[0]["clamp_adjustment"]) == (
        2,
        "-9.0",
    )
    assert plain.amount.amount == D("1.85")  # 1 % of 185, from one count + sum in SQL
    assert Invoice.objects.get().total.amount == D("13.27")


def test_free_allowance_carries_across_a_mid_period_amendment(payments):
    _meter, customer = payments
    contract = make_contract(
        customer,
        version=make_version([charge("fees", rate="2.9", fixed_amount="0.30", free_units=2)]),
    )
    contract_amend(
        contract=contract,
        change=AmendmentInput(
            effective_date=date(2026, 1, 16),
            overrides=({"charge_key": "fees", "kind": "multiplier", "multiplier": D(2)},),
        ),
    )
    billing_run(now=at(2026, 2, 3))
    first, second = usage_lines("fees")
    # Jan 1-15: 100 and 50 free, 20 -> 0.58 + 0.30 = 0.88
    assert (first.quantity, first.amount.amount) == (D(170), D("0.88"))
    # Jan 16-31 at twice the price; the allowance was used up before: 10 -> 0.58 + 0.60,
    # 5 -> 0.29 + 0.60 (restarting it would have made both free)
    assert (second.quantity, second.amount.amount) == (D(15), D("2.07"))
    assert second.breakdown[0]["free_events"] == 0


def test_meter_event_values_pages_through_the_events_in_order(payments):
    meter, customer = payments
    values = meter_event_values(
        customer=customer, meter=meter, start=at(2026, 1, 1), end=at(2026, 2, 1), page_size=2
    )
    assert list(values) == [D(100), D(50), D(20), D(10), D(5)]
    assert values.totals() == (5, D(185))
    later = meter_event_values(
        customer=customer, meter=meter, start=at(2026, 1, 12, 9), end=at(2026, 1, 25, 9)
    )
    assert list(later) == [D(20), D(10)] and later.totals() == (2, D(30))
