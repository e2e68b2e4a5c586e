"""Rollup state.

``RollupQueue`` is the work queue: each ingest (or attribution) transaction inserts one row with
the ids of the events it made countable, in the same transaction. The rollup worker claims rows
with ``FOR UPDATE SKIP LOCKED``, applies them to ``HourlyRollup``/``UniqueValue`` and deletes
them in one transaction. A crash rolls everything back; no watermark can skip a late commit.

A row the worker cannot apply (e.g. a value that overflows its rollup bucket) is isolated to
the failing event and kept as a quarantined row (``quarantined_at`` set, with the database's
reason): the worker skips it, everything else proceeds, and an operator replays it from the
admin. A quarantined event counts as still waiting for rollup (backfills and invariant 2
leave it out), so a replay applies it exactly once.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models


class RollupQueue(models.Model):
    event_pks = ArrayField(models.BigIntegerField())
    created_at = models.DateTimeField()
    quarantined_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when the rollup worker could not apply this row."
    )
    # Database defaults: ingest inserts queue rows with raw SQL naming only the first two.
    reason = models.TextField(
        blank=True, db_default="", help_text="The database error that stopped it."
    )
    error_code = models.CharField(
        max_length=5, blank=True, db_default="", help_text="PostgreSQL SQLSTATE."
    )
    attempts = models.PositiveIntegerField(db_default=0, help_text="Failed rollup attempts.")

    class Meta:
        indexes = [
            models.Index(
                fields=["quarantined_at"],
                condition=models.Q(quarantined_at__isnull=False),
                name="rollupqueue_quarantined",
            ),
        ]

    def __str__(self) -> str:
        state = "quarantined" if self.quarantined_at else "queued"
        return f"{len(self.event_pks)} events {state} at {self.created_at:%H:%M:%S}"


class QuarantinedManager(models.Manager["QuarantinedRollup"]):
    def get_queryset(self) -> models.QuerySet[QuarantinedRollup]:
        return super().get_queryset().filter(quarantined_at__isnull=False)


class QuarantinedRollup(RollupQueue):
    """Admin queue: events the rollup worker could not apply, with the reason; replayable."""

    objects = QuarantinedManager()  # type: ignore[misc]  # a proxy narrows its manager

    class Meta:
        proxy = True
        verbose_name = "quarantined rollup"


class HourlyRollup(models.Model):
    """Per (meter version, customer, bucket, group values): count, sum, max or latest.

    ``hour`` is the start of a 15-minute bucket (``metering.meter_sql.BUCKET``): quarter hours
    line up with hour/day/month boundaries in every real time zone (+5:30, +5:45, -3:30).
    """

    meter_version = models.ForeignKey(
        "metering.MeterVersion", on_delete=models.CASCADE, related_name="+"
    )
    customer = models.ForeignKey(
        "accounts.Customer", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    hour = models.DateTimeField()
    group_values = models.JSONField(default=list)
    value = models.DecimalField(max_digits=38, decimal_places=12)
    event_count = models.BigIntegerField(default=0)
    latest_at = models.DateTimeField(null=True)
    latest_pk = models.BigIntegerField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "meter_version", "hour", "group_values"],
                name="hourlyrollup_unique_bucket",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.meter_version_id}/{self.customer_id}/"
            f"15-minute bucket from {self.hour:%Y-%m-%d %H:%M} UTC"
        )


class UniqueValue(models.Model):
    """Distinct values seen per bucket (``hour``: 15-minute bucket start) for unique_count
    meters, so distincts over any range of buckets are exact."""

    meter_version = models.ForeignKey(
        "metering.MeterVersion", on_delete=models.CASCADE, related_name="+"
    )
    customer = models.ForeignKey(
        "accounts.Customer", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    hour = models.DateTimeField()
    group_values = models.JSONField(default=list)
    value = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "meter_version", "hour", "group_values", "value"],
                name="uniquevalue_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.meter_version_id}/{self.customer_id}/{self.hour:%Y-%m-%d %H}h: {self.value}"
