"""End to end with a real Celery worker (a plain ``celery -A billingsite worker``): ingest
commits and kicks the rollup, the rollup's hook queues the customer and kicks the evaluation,
and the trigger row appears without anyone calling a service by hand."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import pytest

from invoicing.alerts.models import AlertTrigger
from invoicing.alerts.services import alert_create
from metering.services import events_ingest
from tests.factories import CustomerFactory
from tests.invoicing.alerts.world import CALLS, meter
from tests.invoicing.factories import make_contract, make_version
from tests.workers import celery_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_crossing_fires_through_the_worker_soon_after_ingest():
    now = datetime.now(UTC)
    customer = CustomerFactory(external_id="live")
    make_contract(customer, version=make_version([CALLS]), start=date(now.year, now.month, 1))
    alert = alert_create(
        name="calls", type="usage_threshold", customer=customer, meter=meter(),
        thresholds=[{"value": "5"}],
    )  # fmt: skip
    with celery_worker(queues=None):
        events = [
            {"id": f"w-{i}", "customer": "live", "type": "api_request",
             "timestamp": (now - timedelta(seconds=30 - i)).isoformat()}
            for i in range(5)
        ]  # fmt: skip
        assert events_ingest(api_key=None, events=events).counts["accepted"] == 5
        acked = time.monotonic()
        while not AlertTrigger.objects.filter(alert=alert).exists():
            assert time.monotonic() - acked < 60, "no trigger a minute after ingest"
            time.sleep(0.2)
        latency = time.monotonic() - acked
    trigger = AlertTrigger.objects.get(alert=alert)
    assert trigger.value == 5
    # 0.42 s on the shared 2-core machine (docs/benchmarks.md); the brief's bound is 10 s
    assert latency < 10, f"ingest ack -> trigger row took {latency:.2f} s"
