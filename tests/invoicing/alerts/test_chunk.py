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
from tests.invoicing.alerts.world import at, calls_alert, customer_on_plan, meter, send

pytestmark = pytest.mark.django_db


def _world(n: int) -> list[int]:
    ids = []
    for i in range(n):
        customer, contract = customer_on_plan(f"c{i}", plan=f"p{i}")
        calls_alert(customer)
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


def test_ledger_values_read_for_a_batch_equal_each_customers_own_reads():
    from datetime import date
    from decimal import Decimal

    from invoicing.alerts.values import CustomerSnapshot
    from invoicing.models import CreditEntry, CreditGrant
    from invoicing.services.contracts import commit_create
    from invoicing.services.credits import credit_grant_create

    now = at(2026, 1, 15, 12)
    with time_machine.travel(now, tick=False):
        alerts, ids = [], []
        for i in range(4):
            customer, contract = customer_on_plan(f"l{i}", plan=f"lp{i}")
            ids.append(customer.pk)
            for n in range(i):  # 0 to 3 grants, one expired, in two currencies
                credit_grant_create(
                    customer=customer,
                    kind="promotional",
                    currency="EUR" if n == 2 else "USD",
                    amount=Decimal(40 + 10 * n),
                    effective_at=at(2026, 1, 1),
                    expires_at=at(2026, 1, 10) if n == 1 else None,
                )
            if i % 2:
                commit_create(
                    contract=contract,
                    kind="prepaid",
                    amount=Decimal(200),
                    effective_from=date(2026, 1, 1),
                )
                grant = CreditGrant.objects.get(customer=customer, commit__isnull=False)
                CreditEntry.objects.create(
                    grant=grant, kind="adjustment", currency="USD", amount=-30 * i
                )
            for currency in ("usd", "eur"):
                alerts.append(
                    alert_create(
                        name="low", type="credit_balance_below", customer=customer,
                        currency=currency, thresholds=[{"value": "45"}],
                    )
                )  # fmt: skip
            alerts.append(
                alert_create(
                    name="burn", type="commit_burn", customer=customer,
                    thresholds=[{"value": "10"}],
                )
            )  # fmt: skip
        chunk = Chunk.load(ids, now)
        seen = []
        for alert in alerts:
            own = CustomerSnapshot.load(alert.customer, now).value(alert)
            batched = chunk.snapshots[alert.customer_id].value(alert)
            assert batched == own, (alert.customer.external_id, alert.type, alert.currency)
            seen.append(own)
        # the comparison covers balances in both currencies and burns both known and unknown
        assert None in seen and Decimal(0) in seen and Decimal(15) in seen, seen
        assert {v for v in seen if v is not None} - {Decimal(0)}


def test_customers_with_nothing_to_fire_cost_no_query_of_their_own():
    with time_machine.travel(at(2026, 1, 15, 12), tick=False):
        ids = []
        for i in range(6):
            customer, _contract = customer_on_plan(f"q{i}", plan=f"qp{i}")
            alert_create(
                name="calls", type="usage_threshold", customer=customer, meter=meter(),
                thresholds=[{"value": "100", "recurring": True}],
            )  # fmt: skip
            alert_create(
                name="budget", type="spend_threshold", customer=customer,
                thresholds=[{"value": "100"}],
            )  # fmt: skip
            ids.append(customer.pk)
        alerts_evaluate_pending()  # the first look computes each spend
        counts = []
        for batch in (ids[:2], ids):
            for i, pk in enumerate(batch):
                send(f"q{ids.index(pk)}", 1 + i, at(2026, 1, 15, 11))
            alerts_mark_customers(batch)
            with CaptureQueriesContext(connection) as queries:
                stats = alerts_evaluate_pending()
            assert (stats.customers, stats.quiet, stats.fired) == (len(batch), len(batch), 0)
            counts.append(len(queries))
        assert counts[0] == counts[1], counts
        assert not AlertTrigger.objects.exists()
