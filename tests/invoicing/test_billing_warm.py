"""The billing run reads a chunk's usage ahead (``MeteringUsage.warm``): the prediction matches
the reads the computation makes, warmed readings equal direct ones, and a chunk's outbox rows
wake the dispatcher once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.models import Customer
from invoicing.models import Invoice
from invoicing.selectors.invoices import compute_for_period, contract_period, usage_requests
from invoicing.services.billing import billing_run
from invoicing.services.contracts import AmendmentInput, contract_amend
from invoicing.usage import MeteringUsage, UsageReading, UsageRequest
from metering.services import events_ingest, meter_create, rollup_drain
from tests.factories import CustomerFactory
from tests.invoicing.factories import PLATFORM_FEE, make_contract, make_version

pytestmark = pytest.mark.django_db

CHARGES = [
    PLATFORM_FEE,
    {
        "key": "api_calls",
        "name": "API calls",
        "kind": "usage",
        "meter_key": "api_calls",
        "price": {
            "model": "graduated",
            "tiers": [{"up_to": "10", "unit_amount": "0.5"}, {"up_to": None, "unit_amount": "0.1"}],
        },
    },
    {
        "key": "regional",
        "name": "Regional",
        "kind": "usage",
        "meter_key": "by_region",
        "price": {
            "model": "matrix",
            "dimensions": ["region"],
            "default_unit_amount": "1",
            "rates": [{"match": {"region": "us"}, "unit_amount": "2"}],
        },
    },
]


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


class Recording:
    """A usage source that answers 1 unit and remembers every question."""

    def __init__(self) -> None:
        self.asked: list[UsageRequest] = []

    def __call__(
        self,
        *,
        customer: Customer,
        meter_key: str,
        start: datetime,
        end: datetime,
        group_by: Sequence[str] | None = None,
    ) -> UsageReading:
        self.asked.append(UsageRequest(customer.pk, meter_key, start, end, tuple(group_by or ())))
        return UsageReading(total=Decimal(1), groups=(({"region": "us"}, Decimal(1)),))


@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata", "America/New_York"])
def test_predicted_reads_are_the_reads_the_computation_makes(tz):
    """Segments from a mid-period amendment, a grouped (matrix) charge and a fixed fee: the
    warm-up asks exactly what ``compute_for_period`` asks, in any time zone."""
    contract = make_contract(CustomerFactory(timezone=tz), version=make_version(CHARGES), tz=tz)
    contract_amend(
        contract=contract,
        change=AmendmentInput(
            effective_date=date(2026, 1, 12),
            note="Cheaper calls",
            overrides=(
                {"charge_key": "api_calls", "kind": "multiplier", "multiplier": Decimal("0.5")},
            ),
        ),
    )
    contract.refresh_from_db()
    period = contract_period(contract, local_day=date(2026, 1, 5))
    source = Recording()
    compute_for_period(contract, period, usage=source)
    predicted = usage_requests(contract, [period])
    assert len(source.asked) == 3  # two segments of api_calls, one regional
    assert sorted(predicted, key=repr) == sorted(source.asked, key=repr)


def _usage_world() -> list[Customer]:
    meter_create(key="api_calls", name="API calls", event_type="api_request", aggregation="count")
    meter_create(
        key="by_region",
        name="By region",
        event_type="api_request",
        aggregation="count",
        group_by=["region"],
    )
    version = make_version(CHARGES)
    customers = []
    for n in range(4):
        customer = CustomerFactory(external_id=f"c{n}")
        make_contract(customer, version=version)
        customers.append(customer)
    when = at(2026, 1, 20, 12)
    events = [
        {
            "id": f"e{n}-{i}",
            "customer": f"c{n}",
            "type": "api_request",
            "timestamp": (when + timedelta(minutes=i)).isoformat(),
            "properties": {"region": ["us", "eu"][i % 2]},
        }
        for n in range(3)
        for i in range(5 + 7 * n)
    ]  # c3 has no usage
    events_ingest(api_key=None, events=events, received_at=when + timedelta(hours=1))
    rollup_drain()
    return customers


def test_warmed_readings_equal_direct_reads_and_are_used_once():
    customers = _usage_world()
    contract = customers[1].contracts.get()
    period = contract_period(contract, local_day=date(2026, 1, 5))
    requests = [r for c in customers for r in usage_requests(c.contracts.get(), [period])]
    warmed = MeteringUsage()
    assert warmed.warm(requests) == len(requests)
    for request in requests:
        customer = Customer.objects.get(pk=request.customer_id)
        kwargs = {
            "customer": customer,
            "meter_key": request.meter_key,
            "start": request.start,
            "end": request.end,
            "group_by": list(request.group_by) or None,
        }
        assert warmed(**kwargs) == MeteringUsage()(**kwargs)
    assert warmed._warm == {}  # each reading answers once; the next call reads again


def test_billing_run_with_warm_up_bills_what_a_run_without_it_bills():
    """Same invoices with and without the warm-up (a source without ``warm`` reads per
    contract), and the warm-up saves the per-contract usage reads."""
    customers = _usage_world()
    plain = MeteringUsage()

    def per_contract(**kwargs):  # no ``warm`` attribute: the run reads contract by contract
        return plain(**kwargs)

    with CaptureQueriesContext(connection) as direct:
        billing_run(now=at(2026, 2, 1, 0, 5), usage=per_contract)
    expected = {
        inv.customer_id: (
            inv.total,
            [(ln.charge_key, ln.quantity, ln.amount) for ln in inv.lines.order_by("position")],
        )
        for inv in Invoice.objects.all()
    }
    assert len(expected) == 4
    Invoice.objects.all().delete()
    with CaptureQueriesContext(connection) as warmed:
        billing_run(now=at(2026, 2, 1, 0, 5))
    got = {
        inv.customer_id: (
            inv.total,
            [(ln.charge_key, ln.quantity, ln.amount) for ln in inv.lines.order_by("position")],
        )
        for inv in Invoice.objects.all()
    }
    assert got == expected
    assert got[customers[2].pk][0] > got[customers[3].pk][0]  # usage was really billed

    def rollup_reads(ctx: CaptureQueriesContext) -> int:
        return sum("metering_hourlyrollup" in q["sql"] for q in ctx.captured_queries)

    assert rollup_reads(direct) == 4 * 2  # each contract, each usage charge
    assert rollup_reads(warmed) == 2  # each meter, once for the chunk


@pytest.mark.django_db(transaction=True)
def test_a_chunk_of_finalizations_kicks_the_outbox_once(monkeypatch):
    """Real commits (on-commit hooks run as each invoice commits): four Stripe outbox rows,
    one kick when the chunk ends; outside a run each enqueue still kicks on its own."""
    from billingsite.outbox import services as outbox
    from billingsite.outbox.models import OutboxMessage

    kicks: list[int] = []
    monkeypatch.setattr(outbox, "kick_dispatcher", lambda: kicks.append(1))
    _usage_world()
    result = billing_run(now=at(2026, 2, 2, 1))
    assert result.finalized == 4
    assert OutboxMessage.objects.filter(key__contains="finalize").count() == 4
    assert kicks == [1]
    with transaction.atomic():
        outbox.outbox_enqueue("test.kick", "kick:1")
    assert kicks == [1, 1]
