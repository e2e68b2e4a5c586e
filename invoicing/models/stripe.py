"""What Stripe told us, mirrored on our side: webhook inbox, Stripe invoices, payments, payment
methods and payment-method update links.

Invariants:

- a webhook event is stored once (unique Stripe event id) before it is processed, and takes
  effect once: its handlers and its ``processed`` mark commit in one transaction;
- a mirror row changes only forward: an event (or a poll) older than the last one applied, or
  one that would move a settled status back (paid -> open, succeeded -> failed), is ignored, so
  replays and out-of-order deliveries are harmless;
- a ``Payment`` is one Stripe payment intent (or a bare charge) with the amount captured and
  refunded so far: what refunds and disputes check against.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from djmoney.models.fields import MoneyField
from simple_history.models import HistoricalRecords

from accounts.models import Customer
from billingsite.moneyfields import SHARED_CURRENCY, zero_amount
from invoicing.models.invoices import AMOUNT, Invoice


class WebhookStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"
    IGNORED = "ignored", "Ignored (no handler)"


class StripeWebhookEvent(models.Model):
    """The raw delivery, exactly as received (``body``), stored before anything else."""

    stripe_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    object_id = models.CharField(max_length=255, blank=True, db_index=True)
    livemode = models.BooleanField(default=False)
    api_version = models.CharField(max_length=64, blank=True)
    stripe_created = models.DateTimeField(help_text="When Stripe created the event.")
    body = models.TextField()
    status = models.CharField(
        max_length=16, choices=WebhookStatus.choices, default=WebhookStatus.RECEIVED
    )
    attempts = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        indexes = [models.Index(fields=["status", "received_at"], name="webhook_status_idx")]
        verbose_name = "Stripe webhook event"

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_id}"


class StripeInvoice(models.Model):
    """Our finalized invoice as a Stripe invoice. Amounts are Stripe's, in minor units."""

    invoice = models.OneToOneField(Invoice, on_delete=models.PROTECT, related_name="stripe")
    stripe_id = models.CharField(max_length=255, unique=True)
    status = models.CharField(max_length=32, default="draft")
    collection_method = models.CharField(max_length=32)
    currency = models.CharField(max_length=3)
    total_minor = models.BigIntegerField(default=0)
    amount_paid_minor = models.BigIntegerField(default=0)
    hosted_invoice_url = models.URLField(max_length=1000, blank=True)
    stripe_created = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField(
        null=True, blank=True, help_text="Stripe time of the latest state applied."
    )
    synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.stripe_id} ({self.status})"


class PaymentStatus(models.TextChoices):
    PROCESSING = "processing", "Processing"
    REQUIRES_ACTION = "requires_action", "Requires customer action"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"
    SUCCEEDED = "succeeded", "Succeeded"


class Payment(models.Model):
    """One collection attempt as Stripe reports it (a payment intent, or a charge without one).
    ``amount_captured`` is what refunds may draw on; ``failure_*`` is Stripe's reason."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payments")
    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )
    stripe_payment_intent_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    stripe_charge_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    currency = models.CharField(max_length=3)
    amount = MoneyField(default=zero_amount, **AMOUNT, **SHARED_CURRENCY)
    amount_captured = MoneyField(default=zero_amount, **AMOUNT, **SHARED_CURRENCY)
    amount_refunded = MoneyField(default=zero_amount, **AMOUNT, **SHARED_CURRENCY)
    status = models.CharField(
        max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.PROCESSING
    )
    failure_code = models.CharField(max_length=100, blank=True)
    decline_code = models.CharField(max_length=100, blank=True)
    failure_message = models.TextField(blank=True)
    stripe_created = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(stripe_payment_intent_id__isnull=False)
                    | models.Q(stripe_charge_id__isnull=False)
                ),
                name="payment_has_stripe_id",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="payment_status_idx")]

    def __str__(self) -> str:
        return f"{self.stripe_payment_intent_id or self.stripe_charge_id} ({self.status})"


class StripePaymentMethod(models.Model):
    """A payment method saved on the customer's Stripe customer, as last read back."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="stripe_payment_methods"
    )
    stripe_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=32)
    brand = models.CharField(max_length=32, blank=True)
    last4 = models.CharField(max_length=4, blank=True)
    exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    is_default = models.BooleanField(default=False)
    refreshed_at = models.DateTimeField()

    class Meta:
        ordering = ["-is_default", "stripe_id"]

    def __str__(self) -> str:
        return f"{self.brand or self.type} ...{self.last4}" if self.last4 else self.stripe_id


class LinkStatus(models.TextChoices):
    PENDING = "pending", "Being created"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class PaymentMethodUpdateLink(models.Model):
    """A Stripe Billing portal session that opens on "update payment method", requested by
    support; created by the outbox (never in the admin request) and optionally emailed."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="payment_method_links"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    email_to = models.EmailField(blank=True, help_text="Email the link here once it is ready.")
    status = models.CharField(max_length=16, choices=LinkStatus.choices, default=LinkStatus.PENDING)
    url = models.URLField(max_length=1000, blank=True)
    error = models.TextField(blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Payment-method link #{self.pk} ({self.status})"
