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


class SinkDeadLetter(models.Model):
    """A log message the sink parked instead of having it redelivered forever: it could not be
    decoded (parked at once: it never will be), or storing it failed on
    ``TALLY_EVENT_LOG_MAX_DELIVERIES`` deliveries. The message is acknowledged once parked, so
    the partition moves on; the row keeps the bytes and the reason. Shown in the admin, in
    /metrics (``tally_eventlog_dead_letters``) and by check_invariants until an operator has
    dealt with it and deleted the row (re-publish the events if they were valid)."""

    stream = models.CharField(max_length=64)
    partition = models.PositiveIntegerField()
    stream_seq = models.BigIntegerField(help_text="The message's JetStream stream sequence.")
    deliveries = models.PositiveIntegerField(help_text="Deliveries when it was parked.")
    reason = models.TextField()
    payload = models.BinaryField(help_text="The message as logged.")
    parked_at = models.DateTimeField()

    class Meta:
        ordering = ["-parked_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "stream_seq"], name="sinkdeadletter_unique")
        ]

    def __str__(self) -> str:
        return f"{self.stream}/{self.partition} #{self.stream_seq}"
