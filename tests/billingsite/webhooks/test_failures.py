"""Failure handling: the webhook retry policy (days, not hours), disabling an endpoint that
keeps failing with one email to the operator, and the SSRF checks."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.test import RequestFactory
from django.utils import timezone

from billingsite.events import emit
from billingsite.models import OutboxMessage, OutboxState
from billingsite.outbox.registry import RetryPolicy, retry_policy_for
from billingsite.outbox.services import backoff_delay, outbox_dispatch
from billingsite.webhooks.dashboard import webhook_endpoints_in_trouble
from billingsite.webhooks.models import WebhookDelivery, WebhookEndpoint
from billingsite.webhooks.services import webhook_endpoint_create, webhook_endpoint_update
from billingsite.webhooks.ssrf import WebhookUrlError, check_url
from tests.billingsite.webhooks.receiver import running_receiver

pytestmark = pytest.mark.django_db


def test_webhook_rows_retry_for_three_days_with_growing_jittered_delays():
    policy = retry_policy_for("webhook.deliver")
    assert policy is not None and policy.give_up_after == timedelta(days=3)
    assert retry_policy_for("stripe.invoice.push") is None  # Stripe keeps the global cap
    rng = random.Random(7)
    delays = [backoff_delay(n, rng=rng, policy=policy) for n in range(1, 30)]
    assert timedelta(seconds=24) <= delays[0] <= timedelta(seconds=36)
    assert all(d <= timedelta(hours=6) * 1.2 for d in delays)
    assert sum(delays, timedelta()) > timedelta(days=3)  # the schedule reaches the limit
    assert len({d.total_seconds() for d in delays[-5:]}) == 5  # jitter


def _failing_row(endpoint_url: str) -> OutboxMessage:
    webhook_endpoint_create(url=endpoint_url, events=["*"])
    with transaction.atomic():
        emit("invoice.paid", {"invoice": {"number": "F-1"}}, key="invoice.paid:f1")
    return OutboxMessage.objects.get(topic="webhook.deliver")


def _retry_now(message: OutboxMessage) -> None:
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())


def test_a_row_still_failing_after_three_days_goes_dead():
    with running_receiver(fail_first=100) as receiver:
        message = _failing_row(receiver.url)
        assert outbox_dispatch().as_dict()["retry"] == 1
        OutboxMessage.objects.filter(pk=message.pk).update(
            created_at=timezone.now() - timedelta(days=3, minutes=1)
        )
        _retry_now(message)
        assert outbox_dispatch().as_dict()["dead"] == 1
    assert OutboxMessage.objects.get(pk=message.pk).state == OutboxState.DEAD


def test_an_endpoint_failing_long_enough_is_disabled_and_the_operator_mailed_once(settings):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 3
    settings.WEBHOOK_DISABLE_AFTER_HOURS = 1
    settings.WEBHOOK_OPERATOR_EMAILS = ["ops@tally.invalid"]
    with running_receiver(fail_first=100) as receiver:
        message = _failing_row(receiver.url)
        endpoint = WebhookEndpoint.objects.get()
        for _ in range(4):  # three failures, but within the hour: still enabled
            outbox_dispatch()
            _retry_now(message)
        endpoint.refresh_from_db()
        assert endpoint.enabled and endpoint.consecutive_failures == 4
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            failing_since=timezone.now() - timedelta(hours=2)
        )
        outbox_dispatch()
        endpoint.refresh_from_db()
        assert not endpoint.enabled and "5 deliveries in a row failed" in endpoint.disabled_reason
        assert OutboxMessage.objects.get(pk=message.pk).state == OutboxState.SENT  # stops
        with transaction.atomic():
            emit("invoice.paid", {"invoice": {"number": "F-2"}}, key="invoice.paid:f2")
        outbox_dispatch()
        outbox_dispatch()  # the email row
        assert len(receiver.requests) == 5  # nothing after the disabling
    assert WebhookDelivery.objects.count() == 5
    [email] = mail.outbox
    assert email.to == ["ops@tally.invalid"] and receiver.url in email.body
    request = RequestFactory().get("/admin/")
    [row] = webhook_endpoints_in_trouble(request)
    assert row.badge == "disabled" and row.label == receiver.url
    webhook_endpoint_update(endpoint=endpoint, enabled=True)
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.consecutive_failures == 0
    assert endpoint.disabled_reason == "" and list(webhook_endpoints_in_trouble(request)) == []


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",  # plain http
        "https://127.0.0.1/x",
        "https://10.1.2.3/x",
        "https://169.254.169.254/latest/meta-data",  # cloud metadata (link-local)
        "https://[::1]/x",
        "https://[::ffff:127.0.0.1]/x",  # IPv4-mapped loopback
        "https://100.64.0.1/x",  # shared address space
        "https://localhost/x",
        "https://user:pw@93.184.215.14/x",
        "ftp://93.184.215.14/x",
    ],
)
def test_private_and_non_https_urls_are_refused(settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    with pytest.raises(WebhookUrlError):
        check_url(url)


def test_a_public_address_is_pinned_with_the_host_kept_for_tls(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    target = check_url("https://93.184.215.14:8443/hooks?x=1")
    assert target.url == "https://93.184.215.14:8443/hooks?x=1"
    assert target.host_header == "93.184.215.14:8443" and target.server_name == "93.184.215.14"


def test_a_url_no_longer_allowed_is_not_sent_and_counts_as_a_failure(settings):
    with running_receiver() as receiver:
        message = _failing_row(receiver.url)
        settings.WEBHOOK_ALLOW_PRIVATE_URLS = False  # e.g. DNS now answers a private address
        outbox_dispatch()
    assert receiver.requests == []
    [delivery] = WebhookDelivery.objects.all()
    assert not delivery.succeeded and delivery.response_status is None
    assert delivery.error == "Webhook URLs must use https."  # checked again at send time
    assert OutboxMessage.objects.get(pk=message.pk).state == OutboxState.FAILED
    assert WebhookEndpoint.objects.get().consecutive_failures == 1


def test_a_topic_policy_caps_attempts():
    policy = RetryPolicy(max_attempts=2, base_seconds=1, cap_seconds=1)
    assert backoff_delay(5, rng=random.Random(1), policy=policy) <= timedelta(seconds=1.2)


def test_a_receiver_outage_is_not_an_outbox_stall_but_a_stuck_row_is(settings):
    from billingsite.outbox.invariants import outbox_rows_moving

    with running_receiver(fail_first=100) as receiver:
        message = _failing_row(receiver.url)
        outbox_dispatch()
    two_hours_ago = timezone.now() - timedelta(hours=2)
    OutboxMessage.objects.filter(pk=message.pk).update(created_at=two_hours_ago)
    assert list(outbox_rows_moving()) == []  # failing: the receiver is down, retries go on
    OutboxMessage.objects.filter(pk=message.pk).update(state=OutboxState.PENDING)
    assert len(list(outbox_rows_moving())) == 1  # never picked up: the dispatcher is stuck
