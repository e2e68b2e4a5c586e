"""The money ledger refunds and disputes post to: balanced, append-only, idempotent postings.

Invariants: every posting (``posting_key``, e.g. ``refund:7:succeeded``) is a set of entries
summing to zero, written at most once (unique ``posting_key`` + ``account``); an account's
balance is the sum of its entries.
"""

from __future__ import annotations

from django.db import models
from djmoney.models.fields import MoneyField

from billingsite.display import money_text
from billingsite.moneyfields import SHARED_CURRENCY
from invoicing.models.invoices import AMOUNT


class LedgerAccount(models.TextChoices):
    CASH = "cash", "Cash at Stripe"
    REFUNDS = "refunds", "Refunds issued"
    DISPUTED = "disputed_funds", "Funds held by a dispute"
    DISPUTE_WRITEOFF = "dispute_writeoff", "Disputes lost (written off)"
    DISPUTE_FEES = "dispute_fees", "Dispute fees"


class LedgerEntry(models.Model):
    posting_key = models.CharField(max_length=128)
    account = models.CharField(max_length=24, choices=LedgerAccount.choices)
    currency = models.CharField(max_length=3)
    amount = MoneyField(**AMOUNT, **SHARED_CURRENCY, help_text="Debit positive, credit negative.")
    customer = models.ForeignKey(
        "accounts.Customer", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    invoice = models.ForeignKey(
        "invoicing.Invoice", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    refund = models.ForeignKey(
        "disputes.Refund",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
    )
    dispute = models.ForeignKey(
        "disputes.Dispute",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
    )
    memo = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["posting_key", "account"], name="ledger_posting_account_once"
            )
        ]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.posting_key} {self.account} {money_text(self.amount, self.currency)}"
