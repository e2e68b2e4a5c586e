"""Invoices from real events: ingest -> rollups -> metering's usage selector -> billing run,
including an event that arrives after its period was finalized (an adjustment line)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from invoicing.models import Invoice
from invoicing.services.billing import billing_run
from metering.services import events_ingest, meter_create, rollup_drain
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract, make_version

pytestmark = pytest.mark.django_db


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def send(customer: str, prefix: str, count: int, when: datetime, region: str = "eu") -> None:
    events = [
        {
            "id": f"{prefix}-{i}",
            "customer": customer,
            "type": "api_request",
            "timestamp": (when + timedelta(seconds=i)).isoformat(),
            "properties": {"region": region, "bytes": 10},
        }
        for i in range(count)
    ]
    result = events_ingest(api_key=None, events=events, received_at=when + timedelta(hours=1))
    assert result.counts.get("accepted") == count, result.counts
    rollup_drain()


def test_invoice_bills_rolled_up_events_and_late_ones_as_adjustments():
    meter_create(key="api_calls", name="API calls", event_type="api_request", aggregation="count")
    meter_create(
        key="calls_by_region",
        name="Calls by region",
        event_type="api_request",
        aggregation="count",
        group_by=["region"],
    )
    customer = CustomerFactory(external_id="acme", timezone="America/New_York")
    version = make_version(
        [
            {
                "key": "api_calls",
                "name": "API calls",
                "kind": "usage",
                "meter_key": "api_calls",
                "price": {"model": "per_unit", "unit_amount": "0.5"},
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
                        {"match": {"region": "eu"}, "unit_amount": "1"},
                        {"match": {"region": "us"}, "unit_amount": "2"},
                    ],
                },
            },
        ]
    )
    make_contract(customer, version=version, start=date(2026, 1, 1), tz="America/New_York")
    send("acme", "jan", 20, at(2026, 1, 10, 12))
    send("acme", "jan-us", 5, at(2026, 1, 31, 12), region="us")
    send("acme", "edge", 3, at(2026, 2, 1, 4, 59))  # Jan 31 23:59 in New York: January
    send("acme", "feb", 7, at(2026, 2, 1, 5, 0))  # Feb 1 00:00 in New York: February

    billing_run(now=at(2026, 2, 3))
    january = Invoice.objects.get()
    usage = {ln.charge_key: ln for ln in january.lines.all()}
    assert usage["api_calls"].quantity == 28
    assert usage["api_calls"].amount.amount == Decimal("14.00")
    assert usage["regional"].amount.amount == Decimal("33.00")  # 23 eu * 1 + 5 us * 2
    assert {tuple(sorted(item["group"].items())) for item in usage["regional"].breakdown} == {
        (("region", "eu"),),
        (("region", "us"),),
    }
    assert january.status == "finalized"

    send("acme", "late", 4, at(2026, 1, 20))  # arrives after January was finalized
    billing_run(now=at(2026, 3, 3))
    february = Invoice.objects.get(period_start=at(2026, 2, 1, 5))
    adjustments = {ln.charge_key: ln for ln in february.lines.filter(kind="adjustment")}
    assert adjustments["api_calls"].amount.amount == Decimal("2.00")
    assert adjustments["regional"].amount.amount == Decimal("4.00")
    assert adjustments["api_calls"].adjusts_invoice_id == january.pk
    assert february.lines.get(kind="usage", charge_key="api_calls").quantity == 7


def test_metering_marks_events_before_the_finalized_period_end_as_late():
    from metering.models import UsageEvent

    meter_create(key="api_calls", name="API calls", event_type="api_request", aggregation="count")
    customer = CustomerFactory(external_id="acme")
    make_contract(
        customer,
        version=make_version(
            [
                {
                    "key": "api_calls",
                    "name": "API calls",
                    "kind": "usage",
                    "meter_key": "api_calls",
                    "price": {"model": "per_unit", "unit_amount": "1"},
                }
            ]
        ),
    )
    send("acme", "on-time", 2, at(2026, 1, 5))
    billing_run(now=at(2026, 2, 3))
    send("acme", "late", 1, at(2026, 1, 30))
    send("acme", "current", 1, at(2026, 2, 10))
    assert set(UsageEvent.objects.filter(is_late=True).values_list("event_id", flat=True)) == {
        "late-0"
    }


def test_late_event_four_periods_back_is_billed_once_on_the_next_invoice():
    from invoicing.usage import MeteringUsage

    class Recording(MeteringUsage):
        def __init__(self) -> None:
            super().__init__()
            self.asked: set[datetime] = set()

        def __call__(self, **kwargs):  # type: ignore[no-untyped-def]
            self.asked.add(kwargs["start"])
            return super().__call__(**kwargs)

    meter_create(key="api_calls", name="API calls", event_type="api_request", aggregation="count")
    customer = CustomerFactory(external_id="acme", timezone="UTC")
    make_contract(
        customer,
        version=make_version(
            [
                {
                    "key": "api_calls",
                    "name": "API calls",
                    "kind": "usage",
                    "meter_key": "api_calls",
                    "price": {"model": "per_unit", "unit_amount": "0.5"},
                }
            ]
        ),
    )
    send("acme", "jan", 2, at(2026, 1, 10))
    billing_run(now=at(2026, 5, 3))  # January to April finalized
    january = Invoice.objects.get(period_start=at(2026, 1, 1))
    assert Invoice.objects.filter(status="finalized").count() == 4

    send("acme", "late", 3, at(2026, 1, 20))  # four periods back when May is billed
    recording = Recording()
    billing_run(now=at(2026, 6, 3), usage=recording)
    may = Invoice.objects.get(period_start=at(2026, 5, 1))
    adjustment = may.lines.get(kind="adjustment")
    assert adjustment.amount.amount == Decimal("1.50")
    assert adjustment.adjusts_invoice_id == january.pk
    assert (adjustment.period_start, adjustment.period_end) == (at(2026, 1, 1), at(2026, 2, 1))
    # January (late events) is re-rated; February, with no late event, is not read at all.
    assert at(2026, 1, 1) in recording.asked and at(2026, 2, 1) not in recording.asked

    billing_run(now=at(2026, 7, 3))
    june = Invoice.objects.get(period_start=at(2026, 6, 1))
    assert not june.lines.filter(kind="adjustment").exists()  # billed once, on May's invoice
    assert january.lines.get(kind="usage").amount.amount == Decimal("1.00")  # never changed


def test_an_event_rolled_up_while_its_period_is_finalized_is_billed_once_on_the_next_invoice():
    """The window a flag set only after finalization would leave open: the finalizer read the
    usage (here the run's read-ahead) before a rollup committed. Metering flags events of a
    period whose draft is due for finalization within INVOICING_LATE_FLAG_MARGIN_MINUTES, so
    the next invoice re-rates that period: an event the finalization missed becomes an
    adjustment, one it saw adds nothing. Before the margin, nothing is flagged."""
    import time_machine

    from invoicing.selectors.invoices import contract_period, usage_requests
    from invoicing.usage import MeteringUsage
    from metering.models import UsageEvent

    meter_create(key="api_calls", name="API calls", event_type="api_request", aggregation="count")
    customer = CustomerFactory(external_id="acme", timezone="UTC")
    contract = make_contract(
        customer,
        version=make_version(
            [
                {
                    "key": "api_calls",
                    "name": "API calls",
                    "kind": "usage",
                    "meter_key": "api_calls",
                    "price": {"model": "per_unit", "unit_amount": "1"},
                }
            ]
        ),
    )
    send("acme", "jan", 2, at(2026, 1, 10))
    billing_run(now=at(2026, 2, 1, 0, 5))  # January's draft, due Feb 2 00:00
    with time_machine.travel(at(2026, 2, 1, 12), tick=False):
        send("acme", "in-grace", 1, at(2026, 1, 11))  # a draft refresh will pick it up
    assert not UsageEvent.objects.filter(is_late=True).exists()

    with time_machine.travel(at(2026, 2, 1, 23, 30), tick=False):  # within the margin
        draft = Invoice.objects.get()
        (request,) = usage_requests(contract, [contract_period(contract, draft.period_start)])
        read_before = MeteringUsage()(
            customer=customer, meter_key=request.meter_key, start=request.start, end=request.end
        )
        send("acme", "racing", 3, at(2026, 1, 25))  # commits after the finalizer's read
    assert set(UsageEvent.objects.filter(is_late=True).values_list("event_id", flat=True)) == {
        "racing-0",
        "racing-1",
        "racing-2",
    }

    def finalizer_read(**kwargs):  # type: ignore[no-untyped-def]  # what it read, in time
        return read_before if kwargs["start"] == request.start else MeteringUsage()(**kwargs)

    billing_run(now=at(2026, 2, 2, 0, 10), usage=finalizer_read)
    january = Invoice.objects.get()
    assert january.status == "finalized"
    assert january.lines.get(kind="usage").quantity == 3  # jan + in-grace, not the racing 3

    billing_run(now=at(2026, 3, 3))
    february = Invoice.objects.get(period_start=at(2026, 2, 1))
    adjustment = february.lines.get(kind="adjustment")
    assert adjustment.amount.amount == Decimal("3.00")  # January re-rated: 6 used, 3 billed
    assert adjustment.adjusts_invoice_id == january.pk
    billing_run(now=at(2026, 4, 3))
    march = Invoice.objects.get(period_start=at(2026, 3, 1))
    assert not march.lines.filter(kind="adjustment").exists()  # billed once
