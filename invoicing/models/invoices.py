"""Invoices, their lines, status transitions and the gapless number counters.

Invariants (each has tests):

- one billing-run invoice per (contract, period_start, period_end, kind): a unique constraint,
  so concurrent or repeated billing runs cannot create a second one (re-issues after a void
  point at the voided invoice through ``replaces`` instead);
- ``total`` equals the sum of the lines' rounded amounts (written by the same service that
  writes the lines);
- a finalized invoice never changes: the services refuse it, the model refuses saving a
  non-draft's lines, and database triggers (migration 0002) refuse UPDATEs of its frozen
  columns and any INSERT/UPDATE/DELETE of its lines.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from djmoney.models.fields import MoneyField
from simple_history.models import HistoricalRecords

from accounts.models import Customer, validate_currency
from billingsite.display import money_text
from billingsite.moneyfields import SHARED_CURRENCY, Digits, zero_amount
from invoicing.models.contracts import Contract
from invoicing.states import InvoiceStatus

AMOUNT: Digits = {"max_digits": 24, "decimal_places": 4}
QUANTITY: Digits = {"max_digits": 48, "decimal_places": 18}


class InvoiceKind(models.TextChoices):
    PERIOD = "period", "Billing period"
    REISSUE = "reissue", "Re-issue of a voided invoice"


class FrozenInvoiceError(Exception):
    """Raised when code tries to change a finalized invoice or its lines."""


class Invoice(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="invoices")
    kind = models.CharField(max_length=16, choices=InvoiceKind.choices, default=InvoiceKind.PERIOD)
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by"
    )
    status = models.CharField(
        max_length=16, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT
    )
    series = models.CharField(max_length=16)
    number = models.CharField(max_length=32, null=True, blank=True, unique=True)
    currency = models.CharField(max_length=3)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    total = MoneyField(default=zero_amount, **AMOUNT, **SHARED_CURRENCY)
    finalize_after = models.DateTimeField(help_text="End of the grace period for late usage.")
    issued_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True)
    pdf = models.FileField(upload_to="invoices/", blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-period_start", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "period_start", "period_end", "kind"],
                condition=models.Q(replaces__isnull=True),
                name="invoice_one_per_contract_period",
            ),
            models.CheckConstraint(
                condition=models.Q(period_end__gt=models.F("period_start")),
                name="invoice_period_nonempty",
            ),
            models.CheckConstraint(
                condition=models.Q(status="draft") | models.Q(number__isnull=False),
                name="invoice_issued_has_number",
            ),
            # Target of the (invoice_id, currency) foreign keys of lines and credit notes, which
            # keep their currency equal to the invoice's (migrations 0005 and 0006).
            models.UniqueConstraint(fields=["id", "currency"], name="invoice_id_currency"),
        ]
        indexes = [models.Index(fields=["status", "finalize_after"])]

    def __str__(self) -> str:
        return self.number or f"Draft #{self.pk}"

    @property
    def is_frozen(self) -> bool:
        return self.status != InvoiceStatus.DRAFT


class LineKind(models.TextChoices):
    FIXED = "fixed", "Fixed fee"
    USAGE = "usage", "Usage"
    COMMIT = "commit", "Prepaid commit"
    TRUE_UP = "true_up", "Minimum commit true-up"
    ADJUSTMENT = "adjustment", "Late usage adjustment"
    DISCOUNT = "discount", "Discount"
    CREDIT = "credit", "Credit applied"
    TAX = "tax", "Tax"


class InvoiceLine(models.Model):
    """One signed, rounded amount and everything needed to explain it.

    ``price`` is the price spec actually applied (after overrides), ``breakdown`` the engine's
    per-tier/per-group items, ``overrides`` the overrides applied, ``details`` the rest (the
    unrounded amount, proration days, credit grant ids, the period an adjustment belongs to).
    """

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=LineKind.choices)
    description = models.CharField(max_length=300)
    charge_key = models.CharField(max_length=64, blank=True)
    meter_key = models.CharField(max_length=64, blank=True)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    quantity = models.DecimalField(null=True, blank=True, **QUANTITY)
    currency = models.CharField(
        max_length=3,
        validators=[validate_currency],
        help_text="The invoice's currency; an (invoice, currency) foreign key keeps them equal.",
    )
    amount = MoneyField(**AMOUNT, **SHARED_CURRENCY)
    price = models.JSONField(null=True, blank=True)
    breakdown = models.JSONField(default=list, blank=True)
    overrides = models.JSONField(default=list, blank=True)
    details = models.JSONField(default=dict, blank=True)
    credit_grant = models.ForeignKey(
        "invoicing.CreditGrant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoice_lines",
    )
    adjusts_invoice = models.ForeignKey(
        Invoice,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="adjusted_by",
        help_text="For late-usage adjustments: the finalized invoice of the period it belongs to.",
    )

    class Meta:
        ordering = ["invoice", "position"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="line_position_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.description}: {money_text(self.amount, self.currency)}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.invoice.is_frozen:
            raise FrozenInvoiceError(f"Invoice {self.invoice} is {self.invoice.status}.")
        super().save(*args, **kwargs)


class InvoiceTransition(models.Model):
    """Audit row for every status change: who, when, from what to what, and why."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=16, choices=InvoiceStatus.choices)
    to_status = models.CharField(max_length=16, choices=InvoiceStatus.choices)
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["invoice", "created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.from_status} -> {self.to_status}"


class InvoiceNumberCounter(models.Model):
    """The last number issued in a series; advanced only by an upsert ``... RETURNING`` inside the
    finalizing transaction, so a rolled-back finalization gives its number back (gapless)."""

    series = models.CharField(max_length=16, primary_key=True)
    last_value = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.series}: {self.last_value}"
