"""Where each dataset's nightly export stopped (its cursor), so the next run writes only rows
with a later key: new and changed rows, one file per run."""

from __future__ import annotations

from django.db import models


class ExportCursor(models.Model):
    """The last key written for one dataset into one folder; moved forward only after the
    run's file has been renamed into place (a failed run leaves it where it was)."""

    dataset = models.CharField(max_length=64)
    destination = models.CharField(
        max_length=500, help_text="The folder written to (absolute path)."
    )
    format = models.CharField(max_length=16, help_text="csv or parquet.")
    version = models.PositiveIntegerField(help_text="The dataset's schema version at the last run.")
    position = models.JSONField(
        null=True, blank=True, help_text="The last key written (JSON); empty = from the start."
    )
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_file = models.CharField(max_length=500, blank=True)
    last_rows = models.PositiveBigIntegerField(default=0)
    total_rows = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["dataset", "destination", "format"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "destination", "format"], name="exportcursor_one_per_folder"
            ),
        ]
        # The finance dashboard's permission lives here: reporting's one model.
        permissions = [("view_finance_dashboard", "Can view the finance dashboard")]

    def __str__(self) -> str:
        return f"{self.dataset} ({self.format}) -> {self.destination}"
