"""Reconciliation reports: one run per period, one row per difference found with Stripe."""

from __future__ import annotations

from django.db import models


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    CLEAN = "clean", "Clean (no differences)"
    DIFFERENCES = "differences", "Differences found"
    FAILED = "failed", "Failed"


class DifferenceKind(models.TextChoices):
    MISSING_IN_STRIPE = "missing_in_stripe", "Missing on Stripe"
    MISSING_IN_TALLY = "missing_in_tally", "Missing in Tally"
    AMOUNT = "amount", "Amount differs"
    CURRENCY = "currency", "Currency differs"
    STATUS = "status", "Status differs"


class ReconciliationRun(models.Model):
    """Compares Tally's records with Stripe's objects created in ``[period_start, period_end)``.
    ``counts`` holds, per object type, how many were compared on each side."""

    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    trigger = models.CharField(max_length=32, default="manual")
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.period_start:%Y-%m-%d %H:%M} - {self.period_end:%Y-%m-%d %H:%M}"


class ReconciliationDifference(models.Model):
    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="differences")
    object_type = models.CharField(max_length=32)
    kind = models.CharField(max_length=32, choices=DifferenceKind.choices)
    stripe_id = models.CharField(max_length=255, blank=True)
    tally_ref = models.CharField(max_length=255, blank=True)
    tally_value = models.CharField(max_length=255, blank=True)
    stripe_value = models.CharField(max_length=255, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["run", "object_type", "kind", "pk"]

    def __str__(self) -> str:
        return f"{self.object_type} {self.stripe_id or self.tally_ref}: {self.kind}"
