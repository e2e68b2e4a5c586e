"""Property: under any interleaving of events (on time and late within the period), evaluation
runs, retries, crashed evaluations and period roll-overs, each threshold step fires at most
once per period, and exactly once when the period's usage crossed it; each trigger is announced
once, and each trigger of an ended period is resolved once. Plus two concurrent evaluators."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import count

import pytest
import time_machine
from django.db import connection
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invoicing.alerts.evaluation import alerts_evaluate_customer
from invoicing.alerts.models import AlertTrigger
from invoicing.alerts.queue import alerts_claim
from invoicing.alerts.services import alert_create, alerts_evaluate_pending, alerts_periods_roll
from invoicing.alerts.values import calendar_month
from tests.factories import CustomerFactory
from tests.invoicing.alerts.world import CALLS, at, meter, recorded, send
from tests.invoicing.factories import make_contract, make_version

PLAIN, RECURRING = Decimal(5), Decimal(3)
_customers = count()

operation = st.one_of(
    st.tuples(st.just("send"), st.integers(1, 4), st.booleans()),
    st.tuples(st.just("evaluate")),
    st.tuples(st.just("retry")),
    st.tuples(st.just("crash")),
    st.tuples(st.just("hour")),
    st.tuples(st.just("rollover")),
)


def fresh_customer():
    meter()
    customer = CustomerFactory(external_id=f"prop-{next(_customers)}")
    make_contract(customer, version=make_version([CALLS], key="prop"), start=date(2026, 1, 1))
    alert = alert_create(
        name="calls",
        type="usage_threshold",
        customer=customer,
        meter=meter(),
        thresholds=[{"value": str(PLAIN)}, {"value": str(RECURRING), "recurring": True}],
    )
    return customer, alert


class Run:
    """The model: usage per period (by event timestamp) and the clock."""

    def __init__(self, external_id: str) -> None:
        self.external_id = external_id
        self.now = at(2026, 1, 10, 12)
        self.usage: dict[datetime, int] = {}

    def send(self, n: int, late: bool) -> None:
        start, _ = calendar_month(self.now)
        when = start + timedelta(minutes=7) if late else self.now - timedelta(minutes=1)
        with time_machine.travel(self.now, tick=False):
            send(self.external_id, n, when, received=self.now)
        self.usage[start] = self.usage.get(start, 0) + n

    def at_now(self, fn, *args):  # type: ignore[no-untyped-def]
        with time_machine.travel(self.now, tick=False):
            return fn(*args)

    def rollover(self) -> None:
        self.at_now(alerts_evaluate_pending)  # the usual evaluation, seconds after the events
        _, end = calendar_month(self.now)
        self.now = end + timedelta(hours=1)
        self.at_now(alerts_periods_roll)


def expected_steps(usage: int) -> dict[int, set[int]]:
    steps = {1: set(range(1, int(usage // RECURRING) + 1))}
    steps[0] = {1} if usage >= PLAIN else set()
    return steps


@pytest.mark.slow
@pytest.mark.django_db
@override_settings(ALERTS_EVALUATION_LEASE_SECONDS=0)  # a crashed claim is taken over at once
def test_each_threshold_fires_once_per_period_exactly_when_crossed():
    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.lists(operation, min_size=1, max_size=16))
    def run(ops):
        with time_machine.travel(at(2026, 1, 10, 12), tick=False):
            customer, alert = fresh_customer()
        model = Run(customer.external_id)
        with recorded() as rec:
            for op in ops:
                if op[0] == "send":
                    model.send(op[1], op[2])
                elif op[0] == "evaluate":
                    model.at_now(alerts_evaluate_pending)
                elif op[0] == "retry":
                    model.at_now(alerts_evaluate_customer, customer.pk)
                elif op[0] == "crash":
                    model.at_now(alerts_claim, 50)  # claimed, never evaluated nor released
                elif op[0] == "hour":
                    model.now += timedelta(hours=1)
                else:
                    model.rollover()
            model.at_now(alerts_evaluate_pending)
        triggers = AlertTrigger.objects.filter(alert=alert)
        for start, usage in model.usage.items() | {(calendar_month(model.now)[0], 0)}:
            usage = model.usage.get(start, 0)
            got = {
                index: set(
                    triggers.filter(period_start=start, threshold_index=index).values_list(
                        "step", flat=True
                    )
                )
                for index in (0, 1)
            }
            assert got == expected_steps(usage), (start, usage)
        mine = [k for _, data, k in rec.events if data["customer"] == customer.external_id]
        fired = [k for k in mine if k.startswith("alert.triggered:")]
        assert sorted(fired) == sorted({f"alert.triggered:{t.pk}" for t in triggers})
        ended = triggers.filter(period_end__lte=model.now)
        resolved = [k for k in mine if k.startswith("alert.resolved:")]
        assert sorted(resolved) == sorted({f"alert.resolved:{t.pk}" for t in ended})
        assert not triggers.filter(period_end__gt=model.now, resolved_at__isnull=False).exists()

    run()


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_evaluators_fire_a_crossing_once():
    with time_machine.travel(at(2026, 1, 10, 12), tick=False):
        customer, alert = fresh_customer()
        send(customer.external_id, 7, at(2026, 1, 10, 11))
    barrier = threading.Barrier(2)
    fired: list[list[int]] = []

    def evaluate() -> None:
        try:
            with time_machine.travel(at(2026, 1, 10, 12), tick=False):
                barrier.wait(timeout=10)
                fired.append(alerts_evaluate_customer(customer.pk).fired)
        finally:
            connection.close()

    with recorded() as rec:
        threads = [threading.Thread(target=evaluate) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    triggers = AlertTrigger.objects.filter(alert=alert)
    # 7 calls: the plain threshold 5 (step 1) and the recurring 3 (steps 1, 2), each once
    assert sorted(triggers.values_list("threshold_index", "step")) == [(0, 1), (1, 1), (1, 2)]
    assert sorted(pk for ids in fired for pk in ids) == sorted(t.pk for t in triggers)
    assert len(rec.keys()) == 3
