"""Disputes (chargebacks and inquiries) mirrored from ``charge.dispute.*`` webhooks.

Invariants: one row per Stripe dispute id; a webhook snapshot older than the last applied
(``last_event_at``) is ignored and a closed status never reopens, so duplicate and out-of-order
deliveries are harmless; every evidence save/submission is a ``DisputeEvidenceSubmission`` row
(who, when, exactly what was sent) and the dispute keeps its history.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from djmoney.models.fields import MoneyField
from simple_history.models import HistoricalRecords

from billingsite.moneyfields import SHARED_CURRENCY
from disputes.states import DisputeStatus
from invoicing.models.invoices import AMOUNT


class Dispute(models.Model):
    stripe_id = models.CharField(max_length=255, unique=True)
    stripe_charge_id = models.CharField(max_length=255, blank=True, db_index=True)
    payment = models.ForeignKey(
        "invoicing.Payment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="disputes",
    )
    invoice = models.ForeignKey(
        "invoicing.Invoice",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="disputes",
    )
    customer = models.ForeignKey(
        "accounts.Customer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="disputes",
    )
    currency = models.CharField(max_length=3)
    amount = MoneyField(**AMOUNT, **SHARED_CURRENCY)
    reason = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=32, choices=DisputeStatus.choices)
    due_by = models.DateTimeField(null=True, blank=True)
    is_charge_refundable = models.BooleanField(default=False)
    evidence = models.JSONField(
        default=dict, blank=True, help_text="Stripe evidence fields as last saved by us."
    )
    evidence_submitted_at = models.DateTimeField(null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_disputes",
    )
    funds_withdrawn = models.BooleanField(default=False)
    reminded_72h_at = models.DateTimeField(null=True, blank=True)
    reminded_24h_at = models.DateTimeField(null=True, blank=True)
    stripe_created = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = [models.F("due_by").asc(nulls_last=True), "pk"]
        permissions = [("work_dispute", "Can work disputes (assign, evidence, submit)")]
        indexes = [models.Index(fields=["status", "due_by"], name="dispute_status_due_idx")]

    def __str__(self) -> str:
        return f"{self.stripe_id} ({self.status})"

    @property
    def is_inquiry(self) -> bool:
        return self.status.startswith("warning_")


class DisputeNote(models.Model):
    """A communication note (call, email, chat) kept for the evidence packet."""

    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.body[:60]


class DisputeEvidenceSubmission(models.Model):
    """What an agent sent to Stripe (a draft, ``submit=False``, or the final submission)."""

    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE, related_name="submissions")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    evidence = models.JSONField()
    submit = models.BooleanField()
    outbox_key = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["dispute"],
                condition=models.Q(submit=True),
                name="dispute_one_final_submission",
            )
        ]

    def __str__(self) -> str:
        return f"{'Submission' if self.submit else 'Draft'} for {self.dispute}"
