"""On-call metrics at /metrics: outbox backlog by state and its oldest age, send outcomes,
webhook events waiting/failed, their lag, and failed payments."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from billingsite.models import OutboxMessage
from billingsite.outbox.registry import register_outbox_handler, unregister_outbox_handler
from billingsite.outbox.services import outbox_dispatch, outbox_enqueue
from invoicing.models import StripeWebhookEvent
from invoicing.stripe.inbox import webhook_event_process
from tests.stripe.sync_support import SECRET, post_event, stripe_event

pytestmark = pytest.mark.django_db


def _find(text: str, name: str, labels: str) -> re.Match[str] | None:
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r" (\S+)"
    return re.search(r"^" + pattern + r"$", text, re.MULTILINE)


def metric(text: str, name: str, labels: str = "") -> float:
    found = _find(text, name, labels)
    assert found, f"{name}{{{labels}}} not exported"
    return float(found.group(1))


def metric_or_zero(text: str, name: str, labels: str = "") -> float:
    found = _find(text, name, labels)
    return float(found.group(1)) if found else 0.0


def test_outbox_backlog_age_and_failures_are_exported(client):
    def broken(message):
        raise ValueError("remote said no")

    register_outbox_handler("test.metrics", broken)
    try:
        with transaction.atomic():
            outbox_enqueue("test.metrics", "metrics:1", {})
            outbox_enqueue("test.metrics", "metrics:2", {})
        OutboxMessage.objects.filter(key="metrics:2").update(
            created_at=timezone.now() - timedelta(minutes=10),
            next_attempt_at=timezone.now() + timedelta(hours=1),
        )
        before = client.get("/metrics").content.decode()
        outbox_dispatch()
        after = client.get("/metrics").content.decode()
    finally:
        unregister_outbox_handler("test.metrics")
    assert metric(before, "tally_outbox_messages", 'state="pending"') == 2
    assert metric(after, "tally_outbox_messages", 'state="failed"') == 1
    assert metric(after, "tally_outbox_messages", 'state="pending"') == 1
    assert 590 < metric(after, "tally_outbox_oldest_unsent_seconds") < 900
    failures = 'outcome="retry",topic="test.metrics"'
    assert (
        metric(after, "tally_outbox_sends_total", failures)
        == metric_or_zero(before, "tally_outbox_sends_total", failures) + 1
    )


def test_webhook_backlog_failures_and_lag_are_exported(client, settings):
    settings.STRIPE_WEBHOOK_SECRETS = [SECRET]
    lag_count = "tally_stripe_webhook_lag_seconds_count"
    start = client.get("/metrics").content.decode()
    post_event(client, stripe_event("customer.tax_id.created", "customer", id="evt_metrics"))
    waiting = client.get("/metrics").content.decode()
    assert metric(waiting, "tally_stripe_webhook_events", 'status="received"') == 1
    assert metric(waiting, "tally_stripe_webhook_oldest_unprocessed_seconds") >= 0
    webhook_event_process(event_pk=StripeWebhookEvent.objects.get().pk)
    done = client.get("/metrics").content.decode()
    assert metric(done, "tally_stripe_webhook_events", 'status="received"') == 0
    assert (
        metric(
            done,
            "tally_stripe_webhooks_processed_total",
            'status="ignored",type="customer.tax_id.created"',
        )
        >= 1
    )
    assert metric(done, lag_count) == metric_or_zero(start, lag_count) + 1
    assert metric(done, "tally_payments_failed_24h") == 0
