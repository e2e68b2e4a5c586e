"""Deliveries to a real receiver on loopback: Standard Webhooks signatures, one event per
business change, retries until a 2xx, disabled endpoints, replay with the same ids."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from billingsite.events import emit
from billingsite.models import OutboxMessage, OutboxState
from billingsite.outbox.services import outbox_dispatch
from billingsite.webhooks.models import WebhookDelivery, WebhookEvent
from billingsite.webhooks.services import (
    webhook_endpoint_create,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
    webhook_replay,
)
from tests.billingsite.webhooks.receiver import running_receiver

pytestmark = pytest.mark.django_db


def _emit(event_type: str, key: str, **data: object) -> None:
    with transaction.atomic():
        emit(event_type, data, key=key)


def _dispatch_until_quiet(rounds: int = 10) -> None:
    """Run the dispatcher, making failed rows due at once (the backoff is tested elsewhere)."""
    for _ in range(rounds):
        OutboxMessage.objects.filter(state=OutboxState.FAILED).update(
            next_attempt_at=timezone.now()
        )
        if not outbox_dispatch().outcomes:
            return


def test_a_delivery_verifies_with_the_standard_webhooks_library():
    with running_receiver() as receiver:
        endpoint, secret = webhook_endpoint_create(url=receiver.url, events=["invoice.paid"])
        _emit("invoice.paid", "invoice.paid:1", invoice={"number": "T-1", "total": "10.00"})
        _dispatch_until_quiet()
        [request] = receiver.wait_for(1)
    assert secret.startswith("whsec_")
    body = Webhook(secret).verify(request.body, request.headers)
    event = WebhookEvent.objects.get(key="invoice.paid:1")
    assert request.headers["webhook-id"] == event.public_id and event.public_id.startswith("evt_")
    assert body["type"] == "invoice.paid" and body["data"]["invoice"]["number"] == "T-1"
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 44).verify(request.body, request.headers)
    tampered = request.body.replace(b"10.00", b"99.00")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, request.headers)
    [delivery] = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert delivery.succeeded and delivery.response_status == 200 and delivery.attempt == 1


def test_emitting_the_same_change_twice_is_one_event_and_one_delivery():
    with running_receiver() as receiver:
        webhook_endpoint_create(url=receiver.url, events=["*"])
        for _ in range(3):
            _emit("invoice.finalized", "invoice.finalized:7", invoice={"number": "T-7"})
        _dispatch_until_quiet()
        receiver.wait_for(1)
    assert WebhookEvent.objects.filter(key="invoice.finalized:7").count() == 1
    assert len(receiver.requests) == 1


def test_a_receiver_that_fails_twice_gets_one_delivery_with_one_id_on_the_third_try():
    with running_receiver(fail_first=2) as receiver:
        endpoint, secret = webhook_endpoint_create(url=receiver.url, events=["refund.failed"])
        _emit("refund.failed", "refund.failed:3", refund={"id": 3})
        _dispatch_until_quiet()
        requests = receiver.wait_for(3)
    assert [r.answered for r in requests] == [500, 500, 200]
    assert len(set(receiver.ids())) == 1
    for request in requests:
        Webhook(secret).verify(request.body, request.headers)
    attempts = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("attempt")
    assert [(d.attempt, d.response_status, d.succeeded) for d in attempts] == [
        (1, 500, False),
        (2, 500, False),
        (3, 200, True),
    ]
    assert attempts[0].response_body == "try again later"
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0 and endpoint.failing_since is None


def test_a_disabled_endpoint_gets_nothing_and_unsubscribed_types_are_not_sent():
    with running_receiver() as receiver, running_receiver() as other:
        endpoint, _ = webhook_endpoint_create(url=receiver.url, events=["*"])
        webhook_endpoint_create(url=other.url, events=["customer.created"])
        _emit("invoice.voided", "invoice.voided:1", invoice={"number": "T-1"})
        webhook_endpoint_update(endpoint=endpoint, enabled=False)  # before the worker ran
        _emit("invoice.voided", "invoice.voided:2", invoice={"number": "T-2"})
        _dispatch_until_quiet()
    assert receiver.requests == [] and other.requests == []
    assert not WebhookDelivery.objects.exists()


def test_replay_resends_with_the_same_ids():
    with running_receiver() as receiver:
        endpoint, _ = webhook_endpoint_create(url=receiver.url, events=["*"])
        start = timezone.now() - timedelta(seconds=1)
        _emit("customer.created", "customer.created:1", customer={"external_id": "a"})
        _emit("customer.created", "customer.created:2", customer={"external_id": "b"})
        _dispatch_until_quiet()
        first = receiver.ids()
        assert webhook_replay(endpoint=endpoint, since=start) == 2
        _dispatch_until_quiet()
        receiver.wait_for(4)
    assert len(first) == 2 and sorted(receiver.ids()[2:]) == sorted(first)
    by_id = {}
    for request in receiver.requests:
        by_id.setdefault(request.headers["webhook-id"], []).append(json.loads(request.body))
    assert all(len(bodies) == 2 and bodies[0] == bodies[1] for bodies in by_id.values())


def test_after_a_rotation_both_secrets_verify_until_the_overlap_ends():
    with running_receiver() as receiver:
        endpoint, old = webhook_endpoint_create(url=receiver.url, events=["*"])
        _, new = webhook_endpoint_rotate_secret(endpoint=endpoint)
        _emit("dispute.created", "dispute.created:1", dispute={"id": "dp_1"})
        _dispatch_until_quiet()
        [request] = receiver.wait_for(1)
    assert new != old
    Webhook(new).verify(request.body, request.headers)
    Webhook(old).verify(request.body, request.headers)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
