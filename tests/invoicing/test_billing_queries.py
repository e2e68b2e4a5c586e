"""The billing run's statements per invoice do not grow with the number of customers: each
chunk reads its contracts, states and usage in a fixed number of queries, and each invoice
adds the same few writes (issue 15). Counted on real metering usage, so a per-customer usage
read slipping back in fails the test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from invoicing.models import Invoice
from invoicing.services.billing import billing_run
from invoicing.states import InvoiceStatus
from metering.services import events_ingest, meter_create, rollup_drain
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract, make_version
from tests.invoicing.test_billing_warm import CHARGES

pytestmark = pytest.mark.django_db

DRAFT_AT = datetime(2026, 2, 1, 0, 5, tzinfo=UTC)
FINALIZE_AT = datetime(2026, 2, 2, 1, tzinfo=UTC)
SHARDS = (2, 4, 6)  # contracts billed by three separate runs
# A chunk's drafts are written by three bulk INSERTs; each draft adds its webhook event and
# the read of the endpoints that hear of it (was 5 + a transaction per draft).
DRAFT_STATEMENTS = 2
# A batch of due drafts is finalized with a fixed number of statements (lock drafts and
# contracts, read their lines, numbers, update, transitions, Stripe outbox rows, webhook
# events, endpoints, deliveries: ``services.billing_finalize``): none per invoice. (One by
# one it was 8, plus SAVEPOINT/RELEASE here.)
FINALIZE_STATEMENTS = 0


def _world() -> list[list[int]]:
    meter_create(key="api_calls", name="API calls", event_type="api_request", aggregation="count")
    meter_create(
        key="by_region",
        name="By region",
        event_type="api_request",
        aggregation="count",
        group_by=["region"],
    )
    version = make_version(CHARGES)
    ids = []
    when = datetime(2026, 1, 20, 12, tzinfo=UTC)
    events = []
    for n in range(sum(SHARDS)):
        customer = CustomerFactory(external_id=f"c{n}")
        ids.append(make_contract(customer, version=version).pk)
        events += [
            {
                "id": f"e{n}-{i}",
                "customer": f"c{n}",
                "type": "api_request",
                "timestamp": (when + timedelta(minutes=i)).isoformat(),
                "properties": {"region": ["us", "eu"][i % 2]},
            }
            for i in range(3 + n)
        ]
    events_ingest(api_key=None, events=events, received_at=when + timedelta(hours=1))
    rollup_drain()
    shards, start = [], 0
    for size in SHARDS:
        shards.append(ids[start : start + size])
        start += size
    return shards


def _statements(now: datetime, ids: list[int]) -> int:
    with CaptureQueriesContext(connection) as ctx:
        result = billing_run(now=now, contract_ids=ids, defer_pdfs=True)
    assert not result.failed
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    ("now", "per_invoice"), [(DRAFT_AT, DRAFT_STATEMENTS), (FINALIZE_AT, FINALIZE_STATEMENTS)]
)
def test_statements_per_invoice_are_constant_in_the_number_of_customers(now, per_invoice):
    shards = _world()
    if now == FINALIZE_AT:
        for ids in shards:
            billing_run(now=DRAFT_AT, contract_ids=ids)
    counts = [_statements(now, ids) for ids in shards]
    # 2, 4 and 6 contracts: each 2 more cost the same statements, and few of them
    assert counts[2] - counts[1] == counts[1] - counts[0]
    assert (counts[1] - counts[0]) / 2 <= per_invoice
    status = InvoiceStatus.DRAFT if now == DRAFT_AT else InvoiceStatus.FINALIZED
    assert Invoice.objects.filter(status=status).count() == sum(SHARDS)
