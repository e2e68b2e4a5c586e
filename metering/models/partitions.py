"""The record of usage-event months detached from the partitioned events table."""

from __future__ import annotations

from django.db import models


class ArchivedMonth(models.Model):
    """One month of ``metering_usageevent`` detached and archived (``events_partitions
    --detach``). Its rollups stay, so invoices and usage reads are unchanged; checks that
    recompute rollups from raw events start after the latest archived month."""

    month = models.DateField(unique=True, help_text="First day of the month (UTC).")
    rows = models.BigIntegerField()
    destination = models.CharField(
        max_length=500, help_text="The Parquet file or the table the rows went to."
    )
    archived_at = models.DateTimeField(help_text="When the month was detached.")
    completed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When its rows were all written to the destination (empty: still being "
        "written; events_partitions --detach again for the month finishes it).",
    )

    class Meta:
        ordering = ["-month"]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} -> {self.destination}"
