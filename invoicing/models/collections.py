"""Collections (dunning): one row per step taken for an unpaid invoice.

A step is named (``retry:2``, ``reminder:-3``, ``past_due``, ``suspend``, ``payment_failed``,
``resolved``) and unique per invoice, so the beat task, a webhook redelivered or two workers
racing take each step at most once: the INSERT is the lock. The row keeps what happened
(``outcome``, ``details``) and its history, and is what the invoice and Customer 360 pages and
the AR aging report show.
"""

from __future__ import annotations

from django.db import models
from simple_history.models import HistoricalRecords

from accounts.models import Customer
from invoicing.models.invoices import Invoice


class DunningStepKind(models.TextChoices):
    PAYMENT_FAILED = "payment_failed", "Payment failed (collections start)"
    RETRY = "retry", "Payment retry"
    REMINDER = "reminder", "Reminder email"
    PAST_DUE = "past_due", "Marked past due"
    SUSPEND = "suspend", "Customer suspended"
    RESOLVED = "resolved", "Resolved (paid or closed)"


class DunningOutcome(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled (outbox row written)"
    DONE = "done", "Done"
    SUCCEEDED = "succeeded", "Payment succeeded"
    FAILED = "failed", "Payment failed"
    SKIPPED = "skipped", "Skipped"


class DunningStep(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="dunning_steps")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    step = models.CharField(max_length=32, help_text="e.g. retry:1, reminder:-3, suspend")
    kind = models.CharField(max_length=16, choices=DunningStepKind.choices)
    due_at = models.DateTimeField(help_text="When the schedule called for this step.")
    taken_at = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=DunningOutcome.choices)
    details = models.JSONField(default=dict, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["invoice", "taken_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "step"], name="dunning_step_once"),
        ]
        indexes = [models.Index(fields=["kind", "outcome"])]

    def __str__(self) -> str:
        return f"{self.step} ({self.outcome})"
