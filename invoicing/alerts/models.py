"""Alert definitions, the history of their triggers, and the queue of customers to evaluate.

``AlertTrigger`` is unique on (alert, customer, period_start, threshold_index, step): inserting
with ``ON CONFLICT DO NOTHING`` is what decides that a threshold fires once per billing period,
whoever evaluates and however often. A recurring threshold's step is ``floor(value / threshold)``
(one trigger per multiple reached); a plain threshold has step 1.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from accounts.models import Customer
from invoicing.models.catalog import Plan
from metering.models import Meter


class AlertType(models.TextChoices):
    USAGE_THRESHOLD = "usage_threshold", "Usage this period"
    SPEND_THRESHOLD = "spend_threshold", "Spend this period (upcoming invoice)"
    CREDIT_BALANCE_BELOW = "credit_balance_below", "Credit balance below"
    COMMIT_BURN = "commit_burn", "Prepaid commit used (%)"


class AlertOwner(models.TextChoices):
    OPERATOR = "operator", "Operator"
    CUSTOMER = "customer", "Customer (self-serve budget)"


class Alert(models.Model):
    """One alert: a measured value, a scope (one customer, or every customer on a plan) and one
    or more thresholds ``[{"value": "100", "recurring": false}, ...]``."""

    name = models.CharField(max_length=200)
    type = models.CharField(max_length=32, choices=AlertType.choices)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    plan = models.ForeignKey(
        Plan, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    meter = models.ForeignKey(
        Meter,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="alerts",
        help_text="usage_threshold: the meter whose usage this period is measured.",
    )
    group_filter = models.JSONField(
        default=dict,
        blank=True,
        help_text='usage_threshold: only these group values, e.g. {"region": "eu"}.',
    )
    currency = models.CharField(
        max_length=3, blank=True, help_text="credit_balance_below: the balance's currency."
    )
    thresholds = models.JSONField(help_text='[{"value": "100", "recurring": false}]')
    owner = models.CharField(max_length=16, choices=AlertOwner.choices, default=AlertOwner.OPERATOR)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(customer__isnull=False, plan__isnull=True)
                | models.Q(customer__isnull=True, plan__isnull=False),
                name="alert_one_scope",
            ),
            models.CheckConstraint(
                condition=~models.Q(type="usage_threshold") | models.Q(meter__isnull=False),
                name="alert_usage_has_meter",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "enabled"]),
            models.Index(fields=["plan", "enabled"]),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_type_display()})"


class AlertTrigger(models.Model):
    """One threshold (step) crossed by one customer in one billing period."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="triggers")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="alert_triggers")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    threshold_index = models.PositiveSmallIntegerField()
    step = models.PositiveIntegerField(help_text="1, or floor(value / threshold) when recurring.")
    threshold = models.DecimalField(max_digits=24, decimal_places=4)
    value = models.DecimalField(max_digits=30, decimal_places=8, help_text="Value when it fired.")
    triggered_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_reason = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-triggered_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "customer", "period_start", "threshold_index", "step"],
                name="alerttrigger_once_per_period",
            )
        ]
        indexes = [
            models.Index(
                fields=["customer", "period_end"],
                condition=models.Q(resolved_at__isnull=True),
                name="alerttrigger_open",
            )
        ]

    def __str__(self) -> str:
        return f"{self.alert_id} {self.customer_id} step {self.step} @ {self.period_start:%Y-%m-%d}"


class AlertDirtyCustomer(models.Model):
    """A customer whose usage changed since their alerts were last evaluated.

    The rollup hook upserts (``marked_at = clock_timestamp()``, ``claimed_at = NULL``); the
    evaluator claims rows with ``SKIP LOCKED`` and a lease, oldest ``queued_since`` first,
    evaluates, then deletes a row only if it was not marked again meanwhile (same
    ``marked_at``). ``queued_since`` is the first mark since the customer was last claimed, so
    a customer whose events keep coming keeps its place in the queue."""

    customer = models.OneToOneField(
        Customer, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    marked_at = models.DateTimeField()
    queued_since = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"customer {self.customer_id} marked {self.marked_at:%H:%M:%S}"
