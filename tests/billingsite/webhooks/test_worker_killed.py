"""A worker SIGKILLed while the receiver holds its delivery: once the lease ends, another
worker delivers again with the same ``webhook-id`` (a receiver may see a duplicate id, never
two ids for one change), and the outbox row ends sent."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook

from billingsite.events import emit
from billingsite.models import OutboxMessage, OutboxState
from billingsite.outbox.tasks import outbox_dispatch_task
from billingsite.webhooks.models import WebhookDelivery, WebhookEvent
from billingsite.webhooks.services import webhook_endpoint_create
from tests.billingsite.webhooks.receiver import running_receiver
from tests.workers import celery_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_a_worker_killed_mid_delivery_still_delivers_one_event_id():
    with running_receiver(hold_first=4.0) as receiver:
        endpoint, secret = webhook_endpoint_create(url=receiver.url, events=["invoice.paid"])
        with celery_worker(queues=None) as worker:
            with transaction.atomic():  # the commit kicks the dispatcher in the worker
                emit("invoice.paid", {"invoice": {"number": "K-1"}}, key="invoice.paid:k1")
            assert receiver.first_arrived.wait(60), "the worker never sent the webhook"
            os.killpg(worker.pid, signal.SIGKILL)  # while the receiver still holds the request
            worker.wait(10)
        message = OutboxMessage.objects.get(topic="webhook.deliver")
        assert message.state == OutboxState.SENDING  # claimed by the dead worker
        assert not WebhookDelivery.objects.exists()  # it died before recording anything
        # The lease runs out (time passes); a new worker claims the row again.
        OutboxMessage.objects.filter(pk=message.pk).update(lease_expires_at=timezone.now())
        with celery_worker(queues=None):
            outbox_dispatch_task.delay()

            def sent() -> bool:
                return OutboxMessage.objects.get(pk=message.pk).state == OutboxState.SENT

            _wait_for(sent)
        requests = list(receiver.requests)
    event = WebhookEvent.objects.get(key="invoice.paid:k1")
    assert len(requests) == 2  # the killed attempt and the one that was answered
    assert {r.headers["webhook-id"] for r in requests} == {event.public_id}
    for request in requests:
        Webhook(secret).verify(request.body, request.headers)
    [delivery] = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert delivery.succeeded and delivery.response_status == 200
    assert OutboxMessage.objects.get(pk=message.pk).attempts == 2
