"""Gauges read from the database at scrape time: the webhook inbox backlog and its age, failed
events, and payments that failed in the last day (on-call and support watch these)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from prometheus_client.core import GaugeMetricFamily


def stripe_gauges() -> Iterable[GaugeMetricFamily]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE status = 'received'),"
            " count(*) FILTER (WHERE status = 'failed'),"
            " coalesce(extract(epoch FROM now() - min(stripe_created)"
            "   FILTER (WHERE status IN ('received', 'failed'))), 0)"
            " FROM invoicing_stripewebhookevent"
        )
        received, failed, oldest = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM invoicing_payment WHERE status = 'failed'"
            " AND updated_at > now() - interval '24 hours'"
        )
        failed_payments = cursor.fetchone()[0]
    events = GaugeMetricFamily(
        "tally_stripe_webhook_events", "Webhook events not processed", labels=["status"]
    )
    events.add_metric(["received"], received)
    events.add_metric(["failed"], failed)
    yield events
    yield GaugeMetricFamily(
        "tally_stripe_webhook_oldest_unprocessed_seconds",
        "Age (since Stripe created it) of the oldest unprocessed event",
        value=float(oldest),
    )
    yield GaugeMetricFamily(
        "tally_payments_failed_24h",
        "Payments Stripe reported as failed in the last 24 hours",
        value=failed_payments,
    )
