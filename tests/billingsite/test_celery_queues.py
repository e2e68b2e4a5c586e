"""A plain `celery -A billingsite worker` (no -Q) consumes every routed queue, and /metrics shows
each queue's backlog and the age of its oldest waiting task, read from the real Redis broker."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
import time_machine
from django.conf import settings
from django.utils import timezone

from billingsite.celery import app
from billingsite.queue_metrics import broker_lists, queue_names
from billingsite.tasks import heartbeat
from invoicing.tasks import billing_run_contracts_task
from metering.tasks import rollup_run_task
from tests.workers import celery_worker

ROUTED_QUEUES = {"rollups", "billing", "stripe", "notifications"}


@pytest.fixture
def empty_broker() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = [key for queue in queue_names() for key in broker_lists(queue)]
    keys += [key.decode() for key in client.keys("_kombu.binding.*")]
    client.delete(*keys)
    # Declare every queue with its bindings, as a plain worker does on start.
    with app.connection_for_write() as connection:
        for queue in app.amqp.queues.values():
            queue(connection.default_channel).declare()
    yield client
    client.delete(*keys)
    client.close()


def test_a_task_sent_to_one_queue_lands_in_that_queue_only(empty_broker) -> None:
    rollup_run_task.delay()
    heartbeat.apply_async(queue="billing")
    lengths = {queue: empty_broker.llen(queue) for queue in queue_names()}
    assert lengths == {"default": 0, "rollups": 1, "billing": 1, "stripe": 0, "notifications": 0}


def test_every_route_names_a_declared_queue() -> None:
    declared = set(queue_names())
    assert declared >= ROUTED_QUEUES | {"default"}
    app.loader.import_default_modules()
    routed = {
        name: app.amqp.router.route({}, name)["queue"].name
        for name in app.tasks
        if not name.startswith("celery.")
    }
    assert routed["metering.rollup_run"] == "rollups"
    assert routed["invoicing.billing.run"] == "billing"
    assert routed["invoicing.stripe.invoices_poll"] == "stripe"
    assert routed["billingsite.outbox_dispatch"] == "stripe"
    assert set(routed.values()) <= declared, routed


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_started_without_q_runs_tasks_from_every_queue(empty_broker) -> None:
    with celery_worker(queues=None):
        # One task through each declared queue, then real routed tasks through their routes.
        pids = {
            queue: heartbeat.apply_async(queue=queue).get(timeout=60)["pid"]
            for queue in queue_names()
        }
        rolled_up = rollup_run_task.delay().get(timeout=60)
        billed = billing_run_contracts_task.delay([], timezone.now().isoformat()).get(timeout=60)
    assert set(pids) >= ROUTED_QUEUES
    assert os.getpid() not in pids.values()  # run by the worker process, not eagerly here
    assert rolled_up == 0
    assert billed == {"drafted": 0, "refreshed": 0, "finalized": 0, "failed": []}


def _gauge(body: str, name: str, queue: str) -> float:
    match = re.search(rf'^{name}\{{queue="{queue}"\}} (\S+)$', body, re.MULTILINE)
    assert match, f"{name} for {queue} missing from /metrics"
    return float(match.group(1))


@pytest.mark.django_db
def test_metrics_report_backlog_and_oldest_waiting_task_per_queue(client, empty_broker) -> None:
    published = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with time_machine.travel(published, tick=False):
        heartbeat.apply_async(queue="rollups")
    with time_machine.travel(published + timedelta(minutes=3), tick=False):
        heartbeat.apply_async(queue="rollups")
        # A prioritized message lands in a priority-suffixed list of the same queue.
        heartbeat.apply_async(queue="billing", priority=6)
    assert empty_broker.llen("billing") == 0  # the message is in the suffixed list
    with time_machine.travel(published + timedelta(minutes=10), tick=False):
        body = client.get("/metrics").content.decode()
    assert _gauge(body, "tally_celery_queue_length", "rollups") == 2
    assert _gauge(body, "tally_celery_queue_oldest_task_age_seconds", "rollups") == 600
    assert _gauge(body, "tally_celery_queue_length", "billing") == 1
    assert _gauge(body, "tally_celery_queue_oldest_task_age_seconds", "billing") == 420
    assert _gauge(body, "tally_celery_queue_length", "stripe") == 0
    assert _gauge(body, "tally_celery_queue_oldest_task_age_seconds", "stripe") == 0
