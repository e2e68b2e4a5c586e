"""Prepaid credit bought with money: one-off top-ups and auto-recharge rules.

A ``CreditPurchase`` is charged on Stripe by the outbox (topic ``stripe.credit_purchase.charge``,
the row's ``idempotency_key`` is the Stripe key) and becomes a paid ``CreditGrant`` only when the
payment succeeded. The database holds the "exactly once" rules:

- ``idempotency_key`` is unique (a recharge's key is derived from its rule and the ledger entry
  that took the balance below the threshold, so the same balance event can never buy twice);
- a rule has at most one purchase in flight (``status = pending``), whatever the concurrency;
- ``grant`` is one-to-one: a purchase is granted at most once, and only when it succeeded.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from djmoney.models.fields import MoneyField
from simple_history.models import HistoricalRecords

from accounts.models import Customer, validate_currency
from billingsite.moneyfields import SHARED_CURRENCY
from invoicing.models.credits import AMOUNT, CreditEntry, CreditGrant


class AutoRechargeRule(models.Model):
    """Below ``threshold`` (the customer's live credit balance in ``currency``), buy ``amount``;
    at most ``max_per_month`` purchases per calendar month (UTC). A failed payment stops the
    rule (``enabled`` false, ``stopped_reason`` set) until Finance enables it again."""

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="auto_recharge_rules"
    )
    contract = models.ForeignKey(
        "invoicing.Contract",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="auto_recharge_rules",
    )
    currency = models.CharField(max_length=3, validators=[validate_currency])
    threshold = MoneyField(**AMOUNT, **SHARED_CURRENCY, help_text="Recharge below this balance.")
    amount = MoneyField(**AMOUNT, **SHARED_CURRENCY, help_text="Credit bought per recharge.")
    max_per_month = models.PositiveSmallIntegerField(default=3)
    enabled = models.BooleanField(default=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stopped_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["customer", "currency"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "currency"], name="auto_recharge_one_rule_per_currency"
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="auto_recharge_amount_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(threshold__gte=0), name="auto_recharge_threshold_nonnegative"
            ),
            models.CheckConstraint(
                condition=models.Q(max_per_month__gte=1), name="auto_recharge_max_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"Auto-recharge {self.currency} for customer #{self.customer_id}"


class PurchaseStatus(models.TextChoices):
    PENDING = "pending", "Being charged"
    SUCCEEDED = "succeeded", "Paid and granted"
    FAILED = "failed", "Payment failed"


class PurchaseSource(models.TextChoices):
    TOP_UP = "top_up", "Top-up"
    AUTO_RECHARGE = "auto_recharge", "Auto-recharge"


class CreditPurchase(models.Model):
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="credit_purchases"
    )
    source = models.CharField(max_length=16, choices=PurchaseSource.choices)
    rule = models.ForeignKey(
        AutoRechargeRule,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="purchases",
    )
    trigger_entry = models.ForeignKey(
        CreditEntry,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The ledger entry that took the balance below the rule's threshold.",
    )
    currency = models.CharField(max_length=3, validators=[validate_currency])
    amount = MoneyField(**AMOUNT, **SHARED_CURRENCY)
    idempotency_key = models.CharField(max_length=255, unique=True)
    status = models.CharField(
        max_length=16, choices=PurchaseStatus.choices, default=PurchaseStatus.PENDING
    )
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True)
    failure_code = models.CharField(max_length=100, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    grant = models.OneToOneField(
        CreditGrant,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="purchase",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="credit_purchase_amount_positive"
            ),
            models.UniqueConstraint(
                fields=["rule"],
                condition=models.Q(status="pending", rule__isnull=False),
                name="credit_purchase_one_pending_per_rule",
            ),
            models.UniqueConstraint(
                fields=["rule", "trigger_entry"],
                condition=models.Q(rule__isnull=False),
                name="credit_purchase_once_per_rule_entry",
            ),
            models.CheckConstraint(
                condition=models.Q(status="succeeded", grant__isnull=False)
                | (~models.Q(status="succeeded") & models.Q(grant__isnull=True)),
                name="credit_purchase_granted_iff_succeeded",
            ),
        ]

    def __str__(self) -> str:
        return f"Credit purchase #{self.pk} {self.amount} ({self.status})"
