"""Outbound webhook rows: endpoints, events (one per business change) and delivery attempts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from billingsite.fieldcrypt import EncryptedTextField


class WebhookEndpoint(models.Model):
    """A URL the operator registered. ``secret`` signs every delivery (``whsec_<base64>``) and
    is shown once, in the answer to create or rotate; during a rotation ``previous_secret``
    signs too, until ``previous_secret_expires_at``, so receivers can switch without a gap.

    ``consecutive_failures`` and ``failing_since`` track the current failure streak (reset by a
    success); a streak past the settings disables the endpoint (``disabled_reason``).

    Both secrets are encrypted at rest (``billingsite.fieldcrypt``); Python sees plain text."""

    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list, help_text='Event types, or ["*"] for all.')
    description = models.CharField(max_length=500, blank=True)
    enabled = models.BooleanField(default=True)
    secret = EncryptedTextField()
    previous_secret = EncryptedTextField(blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=500, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(
        excluded_fields=["secret", "previous_secret", "consecutive_failures", "failing_since"]
    )

    class Meta:
        app_label = "billingsite"
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.url} ({'enabled' if self.enabled else 'disabled'})"

    def listens_to(self, event_type: str) -> bool:
        return "*" in self.events or event_type in self.events


class WebhookEvent(models.Model):
    """One business change the outside may hear of. ``key`` names the change (unique: emitting
    it again is a no-op); ``public_id`` (``evt_...``) is the ``webhook-id`` of every delivery
    of the event, first try, retry or replay alike, so receivers deduplicate on it."""

    public_id = models.CharField(max_length=40, unique=True)
    key = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    payload = models.JSONField(help_text='{"type", "timestamp", "data"}: the body sent.')
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        app_label = "billingsite"
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.public_id} {self.type}"


class WebhookDelivery(models.Model):
    """One HTTP attempt to deliver an event to an endpoint: what was sent and what came back.
    ``attempt`` counts attempts of this (event, endpoint) pair, replays included."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    outbox_message_id = models.BigIntegerField(null=True, blank=True)
    attempt = models.PositiveIntegerField()
    url = models.URLField(max_length=2000)
    request_headers = models.JSONField(default=dict)
    succeeded = models.BooleanField(default=False)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The first 2,000 characters.")
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        app_label = "billingsite"
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_ep_idx")]

    def __str__(self) -> str:
        outcome = self.response_status or self.error or "no answer"
        return f"{self.event.public_id} -> endpoint {self.endpoint_id} #{self.attempt}: {outcome}"
