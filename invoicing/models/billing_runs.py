"""Billing runs as records: who or what started a run, as of when, over which contracts, and
what it did (drafted, refreshed, finalized, failed, with each failure's error).

A run started by beat or ``POST /api/v1/billing-runs`` is billed in chunks by parallel Celery
tasks; each chunk adds its counts to the run under a row lock, and the last one to finish
closes the run. ``manage.py billing_run`` bills in process and records the same way.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class BillingRunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"
    FINISHED_WITH_ERRORS = "finished_with_errors", "Finished with errors"


class BillingRunTrigger(models.TextChoices):
    BEAT = "beat", "Schedule (beat)"
    API = "api", "API"
    COMMAND = "command", "manage.py billing_run"
    ADMIN = "admin", "Admin"


class BillingRun(models.Model):
    as_of = models.DateTimeField(help_text="The run bills what had ended by this instant.")
    contract_ids = models.JSONField(
        null=True, blank=True, help_text="The contracts asked for; empty = every contract due."
    )
    trigger = models.CharField(max_length=16, choices=BillingRunTrigger.choices)
    status = models.CharField(
        max_length=24, choices=BillingRunStatus.choices, default=BillingRunStatus.QUEUED
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    contracts_total = models.PositiveIntegerField(default=0)
    contracts_done = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    chunks_recorded = models.JSONField(
        default=list, blank=True, help_text="Chunk numbers already counted (a redelivery adds 0)."
    )
    drafted = models.PositiveIntegerField(default=0)
    refreshed = models.PositiveIntegerField(default=0)
    finalized = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    errors = models.JSONField(
        default=list, blank=True, help_text='[{"contract": id, "error": "..."}], capped.'
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["-created_at"], name="billingrun_created_idx")]

    def __str__(self) -> str:
        return f"Billing run #{self.pk} as of {self.as_of:%Y-%m-%d %H:%M}"
