"""Event-log sink state (issue 16): which log messages have been applied, and each partition's
heartbeat.

``SinkBatch`` is the idempotent batch token: one row per batch a sink applied, written in the
same PostgreSQL transaction as the events, conflicts and rollup queue rows of that batch. A
sink killed after that commit but before JetStream saw the acks gets the messages again; it
finds their stream sequences here and acknowledges them without applying anything twice.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models


class SinkBatch(models.Model):
    token = models.CharField(max_length=200, unique=True, help_text="stream:first-last")
    stream = models.CharField(max_length=64)
    partition = models.PositiveIntegerField()
    first_seq = models.BigIntegerField()
    last_seq = models.BigIntegerField()
    seqs = ArrayField(models.BigIntegerField(), help_text="Stream sequences applied.")
    events = models.PositiveIntegerField(default=0)
    applied_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["stream", "partition", "last_seq"])]

    def __str__(self) -> str:
        return self.token


class SinkHeartbeat(models.Model):
    """Written by a sink after every fetch (even an empty one): a sink that stops shows as an
    ageing heartbeat in /metrics, its backlog as the consumer's pending count."""

    stream = models.CharField(max_length=64)
    partition = models.PositiveIntegerField()
    beat_at = models.DateTimeField()
    last_seq = models.BigIntegerField(default=0)
    pending = models.BigIntegerField(default=0, help_text="Messages not yet delivered.")
    host = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stream", "partition"], name="sinkheartbeat_unique")
        ]

    def __str__(self) -> str:
        return f"{self.stream}/{self.partition}"
