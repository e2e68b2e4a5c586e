"""Credit grants and their ledger.

A grant's balance is ``SUM(entries.amount)`` and nothing else: there is no cached balance
column to drift (invariant 9). Entries are append-only: the model refuses updates and deletes,
and a database trigger (migration 0002) refuses them too. Draw-downs happen under a row lock on
the grant (``invoicing.services.credits``), so concurrent draws cannot overdraw it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from djmoney.models.fields import MoneyField
from simple_history.models import HistoricalRecords

from accounts.models import Customer, validate_currency
from billingsite.display import money_text
from billingsite.moneyfields import SHARED_CURRENCY, Digits

AMOUNT: Digits = {"max_digits": 24, "decimal_places": 4}


class GrantKind(models.TextChoices):
    PROMOTIONAL = "promotional", "Promotional"
    PAID = "paid", "Paid"


class CreditGrant(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="credit_grants")
    contract = models.ForeignKey(
        "invoicing.Contract",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="credit_grants",
    )
    commit = models.OneToOneField(
        "invoicing.Commit",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="credit_grant",
        help_text="The prepaid commit this grant funds, if any.",
    )
    kind = models.CharField(max_length=16, choices=GrantKind.choices)
    currency = models.CharField(max_length=3, validators=[validate_currency])
    amount = MoneyField(
        **AMOUNT, **SHARED_CURRENCY, help_text="Amount granted (the first ledger entry)."
    )
    effective_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    priority = models.PositiveSmallIntegerField(default=100, help_text="Lower is used first.")
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["customer", "expires_at", "priority", "created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="grant_amount_positive"),
            # Target of the entries' (grant_id, currency) foreign key (migration 0005).
            models.UniqueConstraint(fields=["id", "currency"], name="creditgrant_id_currency"),
            models.CheckConstraint(
                condition=models.Q(expires_at__isnull=True)
                | models.Q(expires_at__gt=models.F("effective_at")),
                name="grant_expires_after_effective",
            ),
        ]

    def __str__(self) -> str:
        amount = money_text(self.amount, self.currency)
        return f"{self.get_kind_display()} credit #{self.pk} {amount}"


class CreditEntryKind(models.TextChoices):
    GRANT = "grant", "Granted"
    DRAWDOWN = "drawdown", "Drawn down by an invoice"
    EXPIRY = "expiry", "Expired"
    REVERSAL = "reversal", "Returned by a void"
    ADJUSTMENT = "adjustment", "Manual adjustment"


class ImmutableEntryError(Exception):
    """A ledger entry is never changed or deleted; post a new entry instead."""


class CreditEntry(models.Model):
    grant = models.ForeignKey(CreditGrant, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=CreditEntryKind.choices)
    currency = models.CharField(
        max_length=3,
        validators=[validate_currency],
        help_text="The grant's currency; a (grant, currency) foreign key keeps them equal.",
    )
    amount = MoneyField(**AMOUNT, **SHARED_CURRENCY, help_text="Signed: + adds credit, - uses it.")
    invoice = models.ForeignKey(
        "invoicing.Invoice",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="credit_entries",
    )
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["grant", "created_at", "pk"]
        verbose_name_plural = "credit entries"
        constraints = [
            models.CheckConstraint(condition=~models.Q(amount=0), name="entry_amount_nonzero"),
            models.UniqueConstraint(
                fields=["grant", "invoice", "kind"],
                condition=models.Q(invoice__isnull=False),
                name="entry_once_per_grant_invoice_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {money_text(self.amount, self.currency)} on grant #{self.grant_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ImmutableEntryError("Credit ledger entries cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ImmutableEntryError("Credit ledger entries cannot be deleted.")
