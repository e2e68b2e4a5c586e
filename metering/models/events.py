"""Stored usage events and the review queues around them (conflicts, rejects).

Invariant 1 lives here: ``UsageEventKey`` has ``(namespace, event_id)`` as its primary key, so
an event id is stored once whatever the concurrency. ``metering_usageevent`` is partitioned by
month of ``timestamp`` (migration 0007, docs/scaling.md): PostgreSQL cannot enforce a unique
constraint on it without the partition key, hence the separate key table, written in the same
statement as the event and pruned after the dedup window (``metering.partitions``).
Everything that arrives is kept: accepted or unattributed events in ``UsageEvent``,
same-id-different-content in ``EventConflict``, invalid events in ``RejectedEvent``.
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
        indexes = [
            # Not unique: ``UsageEventKey`` is (a partitioned table cannot hold it without
            # ``timestamp``). Lookups by id (status endpoint, admin search) use it.
            models.Index(fields=["namespace", "event_id"], name="usageevent_id_lookup"),
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


class UsageEventKey(models.Model):
    """The dedup key of a stored event: ``(namespace, event_id)`` -> where the event lives.

    The primary key (named ``usageevent_unique_id``, the constraint's old name) decides
    "stored once"; ``timestamp`` names the event's partition and ``content_hash`` classifies a
    re-send as duplicate or conflict without touching the events. Rows whose event time is
    older than the dedup window plus margin are pruned (``events_partitions --prune-keys``):
    no copy of such an event can be accepted any more (``timestamp_too_old``)."""

    pk = models.CompositePrimaryKey("namespace", "event_id")
    namespace = models.CharField(max_length=64, blank=True, default="")
    event_id = models.CharField(max_length=256)
    event_pk = models.BigIntegerField()
    timestamp = models.DateTimeField()
    content_hash = models.BinaryField(max_length=16)

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
    # No database constraint: a foreign key cannot reference a partitioned table by ``id``
    # alone, and the stored event may be archived (detached month) while the conflict stays.
    existing = models.ForeignKey(
        UsageEvent,
        null=True,
        on_delete=models.SET_NULL,
        related_name="conflicts",
        db_constraint=False,
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
