"""Stored usage events and the review queues around them (conflicts, rejects).

Invariant 1 lives here: ``(namespace, event_id)`` is unique, so an event id is stored once,
forever, whatever the concurrency. Everything that arrives is kept: accepted or unattributed
events in ``UsageEvent``, same-id-different-content in ``EventConflict``, invalid events in
``RejectedEvent``.
"""

from __future__ import annotations

from django.db import models


class UsageEvent(models.Model):
    namespace = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="Empty for Tally's own API; vendor adapters use e.g. 'lago'.",
    )
    event_id = models.CharField(max_length=256)
    customer = models.ForeignKey(
        "accounts.Customer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        db_index=False,
        related_name="usage_events",
        help_text="Empty while unattributed.",
    )
    customer_ref = models.CharField(max_length=128, help_text="The `customer` the event named.")
    type = models.CharField(max_length=128)
    timestamp = models.DateTimeField()
    timestamp_given = models.BooleanField(default=True)
    properties = models.JSONField(default=dict)
    content_hash = models.BinaryField(max_length=16)
    received_at = models.DateTimeField()
    attributed_at = models.DateTimeField(null=True, blank=True)
    is_late = models.BooleanField(
        default=False,
        help_text="Its period was already invoiced (finalized) when it was rolled up.",
    )
    late_marked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["namespace", "event_id"], name="usageevent_unique_id"),
        ]
        indexes = [
            models.Index(fields=["customer", "type", "timestamp"], name="usageevent_cust_type_ts"),
            models.Index(
                fields=["customer_ref"],
                condition=models.Q(customer__isnull=True),
                name="usageevent_unattributed",
            ),
            models.Index(
                fields=["customer", "late_marked_at"],
                condition=models.Q(is_late=True),
                name="usageevent_late",
            ),
        ]

    def __str__(self) -> str:
        prefix = f"{self.namespace}:" if self.namespace else ""
        return f"{prefix}{self.event_id}"


class ReviewStatus(models.TextChoices):
    OPEN = "open", "Open"
    REPLAYED = "replayed", "Replayed"
    DISMISSED = "dismissed", "Dismissed"


class EventConflict(models.Model):
    """An event that reused a stored id with different content: kept for review, not applied."""

    namespace = models.CharField(max_length=64, blank=True, default="")
    event_id = models.CharField(max_length=256, db_index=True)
    existing = models.ForeignKey(
        UsageEvent, null=True, on_delete=models.SET_NULL, related_name="conflicts"
    )
    payload = models.JSONField()
    received_at = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.OPEN
    )

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"conflict on {self.event_id}"


class RejectedEvent(models.Model):
    """An invalid event kept with its reason so it can be fixed and replayed.

    ``vendor`` names the entry point (empty: Tally's own API). ``payload`` is the event in
    Tally's wire format, except for a vendor's event refused before translation (e.g. a
    CloudEvent without ``source``: no namespace to put it in): that row keeps the event as the
    vendor sent it and an empty ``namespace`` (``is_untranslated``), and a replay translates it
    again (``metering.services.rejected_replay``).
    """

    namespace = models.CharField(max_length=64, blank=True, default="")
    vendor = models.CharField(
        max_length=32,
        blank=True,
        default="",
        help_text="Entry point: empty for Tally's API, else the compat adapter (e.g. 'lago').",
    )
    event_id = models.CharField(max_length=256, blank=True, db_index=True)
    payload = models.JSONField()
    reason = models.CharField(max_length=64)
    message = models.TextField(blank=True)
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.OPEN
    )
    replay_outcome = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "reason"])]

    def __str__(self) -> str:
        return f"{self.event_id or '?'}: {self.reason}"

    @property
    def is_untranslated(self) -> bool:
        return bool(self.vendor) and not self.namespace


class UnattributedEvent(UsageEvent):
    """Admin queue: stored events whose customer does not exist (yet)."""

    class Meta:
        proxy = True
        verbose_name = "unattributed event"
