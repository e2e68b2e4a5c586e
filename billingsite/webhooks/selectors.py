"""Webhook reads shared by the API, the admin and the dashboard."""

from __future__ import annotations

from django.db.models import QuerySet

from billingsite.errors import NotFound
from billingsite.webhooks.models import WebhookDelivery, WebhookEndpoint


def webhook_endpoints() -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.all()


def webhook_endpoint_get(endpoint_id: int) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound(f"No webhook endpoint {endpoint_id}.")
    return endpoint


def disabled_endpoints() -> QuerySet[WebhookEndpoint]:
    """Endpoints switched off because they kept failing (not by the operator's choice)."""
    return WebhookEndpoint.objects.filter(enabled=False, failing_since__isnull=False).order_by(
        "-disabled_at", "-pk"
    )


def failing_endpoints() -> QuerySet[WebhookEndpoint]:
    """Enabled endpoints in a failure streak, worst first."""
    return WebhookEndpoint.objects.filter(enabled=True, consecutive_failures__gt=0).order_by(
        "-consecutive_failures", "pk"
    )


def deliveries_of(endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(endpoint=endpoint).select_related("event")
