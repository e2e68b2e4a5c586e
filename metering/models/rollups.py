"""Rollup state.

``RollupQueue`` is the work queue: each ingest (or attribution) transaction inserts one row with
the ids of the events it made countable, in the same transaction. The rollup worker claims rows
with ``FOR UPDATE SKIP LOCKED``, applies them to ``HourlyRollup``/``UniqueValue`` and deletes
them in one transaction. A crash rolls everything back; no watermark can skip a late commit.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models


class RollupQueue(models.Model):
    event_pks = ArrayField(models.BigIntegerField())
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{len(self.event_pks)} events queued at {self.created_at:%H:%M:%S}"


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
        return f"{self.meter_version_id}/{self.customer_id}/{self.hour:%Y-%m-%d %H}h"


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
