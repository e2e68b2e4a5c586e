"""Refunds: one row per refund of one payment, from request to Stripe's final answer.

Invariants (DESIGN invariant 5): the refunds of a payment that hold money (``RESERVING``) never
sum above its captured amount (checked by ``refund_request`` under a row lock on the payment);
each refund reaches Stripe once (outbox key ``refund:<id>``, also the idempotency key); every
status change leaves a ``RefundTransition`` row and a history record (who, when, what).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from djmoney.models.fields import MoneyField
from simple_history.models import HistoricalRecords

from billingsite.display import money_text
from billingsite.moneyfields import SHARED_CURRENCY
from disputes.states import RefundReason, RefundStatus
from invoicing.models.invoices import AMOUNT


class RefundSource(models.TextChoices):
    AGENT = "agent", "Agent request"
    DUPLICATE_PAYMENT = "duplicate_payment", "Duplicate payment (reconciliation)"
    INVOICE_VOID = "invoice_void", "Paid invoice voided"
    SLA_BATCH = "sla_batch", "SLA credit batch"


class Refund(models.Model):
    payment = models.ForeignKey(
        "invoicing.Payment", on_delete=models.PROTECT, related_name="refunds"
    )
    invoice = models.ForeignKey(
        "invoicing.Invoice", null=True, blank=True, on_delete=models.PROTECT, related_name="refunds"
    )
    customer = models.ForeignKey(
        "accounts.Customer", on_delete=models.PROTECT, related_name="refunds"
    )
    currency = models.CharField(max_length=3)
    amount = MoneyField(**AMOUNT, **SHARED_CURRENCY)
    lines = models.JSONField(
        default=dict, blank=True, help_text="{invoice line id: amount} when refunded by line."
    )
    reason = models.CharField(max_length=32, choices=RefundReason.choices)
    reason_text = models.TextField(blank=True)
    internal_note = models.TextField(blank=True)
    source = models.CharField(
        max_length=24, choices=RefundSource.choices, default=RefundSource.AGENT
    )
    status = models.CharField(
        max_length=16, choices=RefundStatus.choices, default=RefundStatus.REQUESTED
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    needs_approval = models.BooleanField(default=False)
    stripe_refund_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    failure_reason = models.CharField(max_length=255, blank=True)
    credit_note = models.OneToOneField(
        "invoicing.CreditNote",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="refund",
    )
    batch_ref = models.CharField(
        max_length=64, blank=True, help_text="SLA batch / duplicate-payment reference."
    )
    last_event_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [
            ("request_refund", "Can request a refund"),
            ("approve_refund", "Can approve a refund above the threshold"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="refund_positive"),
            models.UniqueConstraint(
                fields=["batch_ref", "customer"],
                condition=~models.Q(batch_ref=""),
                name="refund_unique_batch_row",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="refund_status_idx")]

    def __str__(self) -> str:
        return f"Refund #{self.pk} {money_text(self.amount, self.currency)} ({self.status})"


class RefundTransition(models.Model):
    """Audit of one status change: from, to, who (null = Stripe/system), why."""

    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.from_status or '-'} -> {self.to_status}"
