"""A batch with many crossings writes its triggers with one INSERT and announces them with one
batched write per kind, and still fires each step once with one ``alert.triggered`` event (and
one email for self-serve alerts) per trigger: when the batch is written again (a retry) and
when two evaluators write the same batch at once."""

from __future__ import annotations

import threading

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from billingsite.outbox.models import OutboxMessage
from billingsite.webhooks.models import WebhookEvent
from invoicing.alerts.chunk import Chunk
from invoicing.alerts.evaluation import (
    EMAIL_TOPIC,
    alerts_evaluate_customer,
    evaluation_read,
    evaluations_write,
)
from invoicing.alerts.models import AlertTrigger
from invoicing.alerts.services import alert_create, alerts_evaluate_pending
from tests.invoicing.alerts.world import at, customer_on_plan, meter, recorded, send

NOW = at(2026, 1, 15, 12)
CUSTOMERS = 8
# 7 calls each: the plain threshold 5 (step 1), the recurring 2 (steps 1-3), and the
# self-serve budget at 4 calls (step 1): 5 triggers per customer
PER_CUSTOMER = 5


def _world() -> list[int]:
    ids = []
    for i in range(CUSTOMERS):
        customer, _contract = customer_on_plan(f"b{i}", plan=f"bp{i}")
        alert_create(
            name="calls", type="usage_threshold", customer=customer, meter=meter(),
            thresholds=[{"value": "5"}, {"value": "2", "recurring": True}],
        )  # fmt: skip
        alert_create(
            name="my budget", type="usage_threshold", customer=customer, meter=meter(),
            thresholds=[{"value": "4"}], owner="customer",
        )  # fmt: skip
        send(f"b{i}", 7, at(2026, 1, 15, 11))
        ids.append(customer.pk)
    return ids


def _check_once(rec_keys: list[str]) -> None:
    triggers = list(AlertTrigger.objects.all())
    assert len(triggers) == CUSTOMERS * PER_CUSTOMER
    keys = {f"alert.triggered:{t.pk}" for t in triggers}
    fired = [k for k in rec_keys if k.startswith("alert.triggered:")]
    assert sorted(fired) == sorted(keys)  # one event per trigger, none twice
    events = WebhookEvent.objects.filter(type="alert.triggered")
    assert sorted(events.values_list("key", flat=True)) == sorted(keys)
    emails = OutboxMessage.objects.filter(topic=EMAIL_TOPIC)
    budget = [t.pk for t in triggers if t.alert.owner == "customer"]
    assert len(budget) == CUSTOMERS
    assert sorted(m.payload["trigger_id"] for m in emails) == sorted(budget)


def _trigger_inserts(queries: CaptureQueriesContext) -> int:
    return sum(
        1 for q in queries.captured_queries if "INSERT INTO invoicing_alerttrigger" in q["sql"]
    )


@pytest.mark.django_db
def test_a_batch_of_crossings_is_one_insert_and_each_trigger_one_event_even_when_retried():
    with time_machine.travel(NOW, tick=False):
        ids = _world()
        with recorded() as rec:
            with CaptureQueriesContext(connection) as queries:
                stats = alerts_evaluate_pending()
            total = CUSTOMERS * PER_CUSTOMER
            assert (stats.customers, stats.fired, stats.failed) == (CUSTOMERS, total, 0)
            assert _trigger_inserts(queries) == 1
            sql = [q["sql"] for q in queries.captured_queries]
            assert sum(1 for q in sql if "INSERT INTO billingsite_webhookevent" in q) == 1
            _check_once(rec.keys())

            # a retry of the whole batch, as read before the first write committed
            chunk = Chunk.load(ids, NOW)
            for pk in chunk.snapshots:
                chunk.fired[pk] = {}  # as if read before the triggers existed
            pendings = [evaluation_read(pk, chunk=chunk) for pk in chunk.snapshots]
            assert sum(len(c.steps) for p in pendings for c in p.crossings) == total
            with transaction.atomic():
                again = evaluations_write(pendings)
            assert again.fired == []
            for pk in chunk.snapshots:  # and each customer evaluated once more on its own
                assert alerts_evaluate_customer(pk, now=NOW).fired == []
            _check_once(rec.keys())


@pytest.mark.django_db(transaction=True)
def test_two_evaluators_writing_the_same_batch_at_once_fire_each_step_once():
    with time_machine.travel(NOW, tick=False):
        ids = _world()
    read, write = threading.Barrier(2), threading.Barrier(2)
    fired: list[list[int]] = []
    errors: list[BaseException] = []

    def evaluator(order: list[int]) -> None:
        try:
            with time_machine.travel(NOW, tick=False):
                chunk = Chunk.load(order, NOW)
                pendings = [evaluation_read(pk, chunk=chunk) for pk in order]
                read.wait(timeout=30)
                write.wait(timeout=30)
                with transaction.atomic():
                    fired.append(evaluations_write(pendings).fired)
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            connection.close()

    with recorded() as rec:
        # the second evaluator's batch lists the customers the other way round: the INSERT
        # orders its rows by the unique key, so the two wait for each other without deadlock
        threads = [threading.Thread(target=evaluator, args=(order,)) for order in (ids, ids[::-1])]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert not errors, errors
    assert len(fired) == 2
    both = fired[0] + fired[1]
    assert len(both) == len(set(both)) == CUSTOMERS * PER_CUSTOMER
    _check_once(rec.keys())
