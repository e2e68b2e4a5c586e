"""Credit notes: the only way to reduce what a finalized invoice asks for.

A credit note credits some lines of an issued invoice (or all of them) with a reason; it never
edits the invoice. Its ``outcome`` says where the money goes: lower the amount due, feed a
refund (the refund workflow references the note), or become a paid credit grant. Numbered
gaplessly in the ``CN`` series. Append-only, like ledger entries.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from djmoney.models.fields import MoneyField
from simple_history.models import HistoricalRecords

from accounts.models import validate_currency
from billingsite.display import money_text
from billingsite.moneyfields import SHARED_CURRENCY
from invoicing.models.invoices import AMOUNT, Invoice, InvoiceLine


class CreditNoteOutcome(models.TextChoices):
    REDUCE_AMOUNT_DUE = "reduce_amount_due", "Reduce the amount due"
    REFUND = "refund", "Feed a refund"
    CUSTOMER_CREDIT = "customer_credit", "Credit the customer's balance"


class ImmutableCreditNoteError(Exception):
    """Issued credit notes are never edited; issue another one."""


class CreditNote(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    number = models.CharField(max_length=32, unique=True)
    reason = models.TextField()
    outcome = models.CharField(max_length=24, choices=CreditNoteOutcome.choices)
    currency = models.CharField(
        max_length=3,
        validators=[validate_currency],
        help_text="The invoice's currency; an (invoice, currency) foreign key keeps them equal.",
    )
    total = MoneyField(**AMOUNT, **SHARED_CURRENCY)
    credit_grant = models.OneToOneField(
        "invoicing.CreditGrant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="credit_note",
    )
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
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(total__gt=0), name="creditnote_positive"),
            # Target of the lines' (credit_note_id, currency) foreign key (migration 0005).
            models.UniqueConstraint(fields=["id", "currency"], name="creditnote_id_currency"),
        ]

    def __str__(self) -> str:
        return self.number

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ImmutableCreditNoteError(f"Credit note {self.number} cannot be changed.")
        super().save(*args, **kwargs)


class CreditNoteLine(models.Model):
    credit_note = models.ForeignKey(CreditNote, on_delete=models.PROTECT, related_name="lines")
    invoice_line = models.ForeignKey(
        InvoiceLine, on_delete=models.PROTECT, related_name="credit_note_lines"
    )
    currency = models.CharField(
        max_length=3,
        validators=[validate_currency],
        help_text="The note's currency; a (credit note, currency) foreign key keeps them equal.",
    )
    amount = MoneyField(
        **AMOUNT, **SHARED_CURRENCY, help_text="Positive: how much of the line is credited."
    )
    description = models.CharField(max_length=300)

    class Meta:
        ordering = ["credit_note", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="creditnoteline_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.description}: {money_text(self.amount, self.currency)}"
