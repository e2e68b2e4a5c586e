"""The outbox row: one message to send, keyed by the idempotency key derived from our rows."""

from __future__ import annotations

from django.db import models


class OutboxState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (will retry)"
    DEAD = "dead", "Dead (needs a person)"


class OutboxMessage(models.Model):
    """``key`` is unique: enqueueing the same business fact twice yields one row, and the
    handler passes (a key built from) it to Stripe so a resend never creates a second object.

    States: pending -> sending -> sent; sending -> failed -> sending ... -> dead. ``sending``
    carries a lease (``lease_expires_at``): a worker that dies mid-send leaves the row to be
    claimed again when the lease ends. ``attempts`` counts claims."""

    topic = models.CharField(max_length=100)
    key = models.CharField(max_length=255, unique=True)
    payload = models.JSONField(default=dict, blank=True)
    state = models.CharField(
        max_length=16, choices=OutboxState.choices, default=OutboxState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_code = models.CharField(max_length=100, blank=True)
    result = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="outbox_due_idx")]

    def __str__(self) -> str:
        return f"{self.topic} {self.key} ({self.state})"
