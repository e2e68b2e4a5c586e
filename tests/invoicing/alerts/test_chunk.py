"""A batch of evaluations reads ahead once (invoicing.alerts.chunk) and fires exactly what
evaluating each customer on its own fires."""

from __future__ import annotations

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from invoicing.alerts.chunk import Chunk
from invoicing.alerts.evaluation import alerts_evaluate_customer
from invoicing.alerts.models import AlertTrigger
from invoicing.alerts.queue import alerts_mark_customers
from invoicing.alerts.services import alert_create, alerts_evaluate_pending
from tests.invoicing.alerts.world import at, customer_on_plan, meter, send

pytestmark = pytest.mark.django_db


def _world(n: int) -> list[int]:
    ids = []
    for i in range(n):
        customer, contract = customer_on_plan(f"c{i}", plan=f"p{i}")
        alert_create(
            name="calls",
            type="usage_threshold",
            customer=customer,
            meter=meter(),
            thresholds=[{"value": "3", "recurring": True}],
        )
        alert_create(
            name="eu calls",
            type="usage_threshold",
            customer=customer,
            meter=meter(),
            group_filter={"region": "eu"},
            thresholds=[{"value": "2", "recurring": False}],
        )
        alert_create(
            name="budget", type="spend_threshold", plan=contract.plan_version.plan,
            thresholds=[{"value": "4", "recurring": False}],
        )  # fmt: skip
        send(f"c{i}", i + 1, at(2026, 1, 15, 11), region="eu" if i % 2 else "us")
        ids.append(customer.pk)
    return ids


def _fired() -> set[tuple[str, str, int, int, str]]:
    return {
        (t.alert.name, t.customer.external_id, t.threshold_index, t.step, str(t.value))
        for t in AlertTrigger.objects.select_related("alert", "customer")
    }


def test_batched_evaluation_fires_what_one_by_one_evaluation_fires():
    with time_machine.travel(at(2026, 1, 15, 12), tick=False):
        ids = _world(6)
        alerts_mark_customers(ids)
        one_by_one = transaction.savepoint()
        for pk in ids:
            alerts_evaluate_customer(pk)
        expected = _fired()
        transaction.savepoint_rollback(one_by_one)
        assert not AlertTrigger.objects.exists()

        stats = alerts_evaluate_pending()
        assert stats.customers == 6 and stats.failed == 0
        assert _fired() == expected
        # Every kind fired somewhere: the comparison is not between two empty sets.
        assert {name for name, *_ in expected} == {"calls", "eu calls", "budget"}


def test_reading_a_batch_ahead_costs_the_same_queries_for_two_or_six_customers():
    with time_machine.travel(at(2026, 1, 15, 12), tick=False):
        ids = _world(6)
        counts = []
        for batch in (ids[:2], ids):
            with CaptureQueriesContext(connection) as queries:
                Chunk.load(batch, at(2026, 1, 15, 12))
            counts.append(len(queries))
        assert counts[0] == counts[1], counts
