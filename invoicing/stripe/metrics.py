"""Prometheus metrics for calls to Stripe (served at /metrics with the rest).

``outcome`` is ``ok`` or the ``StripeGatewayError`` code (``stripe_server_error``, ...), so
on-call can tell a Stripe outage (retryable codes climbing) from a bug of ours (final codes).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

STRIPE_REQUESTS = Counter(
    "tally_stripe_requests_total",
    "Calls to Stripe by operation and outcome",
    ["operation", "outcome"],
)
STRIPE_REQUEST_SECONDS = Histogram(
    "tally_stripe_request_seconds",
    "Duration of calls to Stripe, failures included",
    ["operation"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def record_call(operation: str, outcome: str, seconds: float) -> None:
    STRIPE_REQUESTS.labels(operation=operation, outcome=outcome).inc()
    STRIPE_REQUEST_SECONDS.labels(operation=operation).observe(seconds)


WEBHOOKS_RECEIVED = Counter(
    "tally_stripe_webhooks_received_total",
    "Verified webhook deliveries (new or duplicate)",
    ["type", "outcome"],
)
WEBHOOKS_PROCESSED = Counter(
    "tally_stripe_webhooks_processed_total",
    "Webhook events processed, by type and result (processed/ignored/failed)",
    ["type", "status"],
)
WEBHOOK_LAG_SECONDS = Histogram(
    "tally_stripe_webhook_lag_seconds",
    "From Stripe creating an event to it taking effect",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
)


def record_processed(event_type: str, status: str, lag: object) -> None:
    from datetime import timedelta

    WEBHOOKS_PROCESSED.labels(type=event_type, status=status).inc()
    if isinstance(lag, timedelta) and status != "failed":
        WEBHOOK_LAG_SECONDS.observe(max(0.0, lag.total_seconds()))
