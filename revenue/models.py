"""The double-entry journal and the revenue recognition schedules.

Invariants (each has tests):

- every journal entry balances: the sum of its debits equals the sum of its credits, all in the
  entry's one currency (a deferred constraint trigger in migration 0001 refuses a commit that
  breaks it, and ``revenue.invariants`` reports any entry that does);
- a source is posted at most once: ``JournalEntry.source_key`` is unique (``invoice:12``,
  ``credit_note:3``, ``recognition:88``), so the daily job and a retry are no-ops;
- the schedule rows of an invoice line sum to the line's amount net of its credit notes, to the
  cent (rounding by ``billingsite.money.allocate``, largest remainder), and a row is recognized
  once: it points at the entry that recognized it.
"""

from __future__ import annotations

from django.db import models

from billingsite.display import money_text

AMOUNT_DIGITS, AMOUNT_PLACES = 24, 4


class Account(models.TextChoices):
    """The chart of accounts, the same in every currency (an entry's currency picks the book)."""

    RECEIVABLE = "receivable", "Accounts receivable"
    DEFERRED_REVENUE = "deferred_revenue", "Deferred revenue"
    REVENUE = "revenue", "Revenue"
    BREAKAGE = "breakage", "Breakage revenue"
    CASH = "cash", "Cash"
    REFUNDS = "refunds", "Refunds payable"
    DISPUTE_LOSSES = "dispute_losses", "Dispute losses"
    TAX_PAYABLE = "tax_payable", "Tax payable"


# Accounts whose natural balance is a credit (liabilities and revenue).
CREDIT_NORMAL = frozenset(
    {Account.DEFERRED_REVENUE, Account.REVENUE, Account.BREAKAGE, Account.TAX_PAYABLE}
)


class SourceType(models.TextChoices):
    INVOICE = "invoice", "Invoice finalized"
    INVOICE_VOID = "invoice_void", "Invoice voided"
    CREDIT_NOTE = "credit_note", "Credit note"
    PAYMENT = "payment", "Payment collected"
    REFUND = "refund", "Refund settled"
    DISPUTE = "dispute", "Dispute lost"
    GRANT_EXPIRY = "grant_expiry", "Prepaid credit expired (breakage)"
    RECOGNITION = "recognition", "Revenue recognized"


class JournalEntry(models.Model):
    date = models.DateField(db_index=True)
    currency = models.CharField(max_length=3)
    source_type = models.CharField(max_length=16, choices=SourceType.choices)
    source_id = models.BigIntegerField()
    source_key = models.CharField(max_length=96, unique=True)
    memo = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["date", "pk"]
        verbose_name_plural = "journal entries"
        indexes = [models.Index(fields=["currency", "date"], name="journal_currency_date_idx")]

    def __str__(self) -> str:
        return f"{self.date} {self.source_key}"


class JournalLine(models.Model):
    """One side of an entry: a debit or a credit (never both) on one account, tagged with what
    it is about (customer, charge, invoice line, credit grant) for the reports."""

    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="lines")
    account = models.CharField(max_length=24, choices=Account.choices)
    currency = models.CharField(max_length=3)
    debit = models.DecimalField(default=0, max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    credit = models.DecimalField(default=0, max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    charge_key = models.CharField(max_length=64, blank=True)
    customer = models.ForeignKey(
        "accounts.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    invoice_line = models.ForeignKey(
        "invoicing.InvoiceLine",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    credit_grant = models.ForeignKey(
        "invoicing.CreditGrant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        ordering = ["entry", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(debit__gt=0, credit=0) | models.Q(debit=0, credit__gt=0)),
                name="journalline_one_side",
            ),
        ]
        indexes = [models.Index(fields=["account", "currency"], name="journalline_account_idx")]

    def __str__(self) -> str:
        side = "Dr" if self.debit else "Cr"
        return f"{self.account} {side} {money_text(self.debit or self.credit, self.currency)}"


class RecognitionSchedule(models.Model):
    """An amount of an invoice line (or of a credit grant's liability) to recognize on a date,
    into ``account`` (revenue or breakage) under ``charge_key``. Negative rows undo revenue
    (a credit line drawing credits, a credit note taking back what is not yet recognized)."""

    invoice_line = models.ForeignKey(
        "invoicing.InvoiceLine",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    credit_grant = models.ForeignKey(
        "invoicing.CreditGrant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)
    on_date = models.DateField()
    amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    account = models.CharField(max_length=24, choices=Account.choices, default=Account.REVENUE)
    charge_key = models.CharField(max_length=64, blank=True)
    origin = models.CharField(
        max_length=96, help_text="The source key that created the row (invoice:12, draw:40...)."
    )
    journal_entry = models.ForeignKey(
        JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["on_date", "pk"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(amount=0), name="schedule_nonzero"),
            models.CheckConstraint(
                condition=models.Q(invoice_line__isnull=False)
                | models.Q(credit_grant__isnull=False),
                name="schedule_has_subject",
            ),
        ]
        indexes = [
            models.Index(
                fields=["on_date"],
                condition=models.Q(journal_entry__isnull=True),
                name="schedule_unposted_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.on_date} {money_text(self.amount, self.currency)} {self.charge_key}"
