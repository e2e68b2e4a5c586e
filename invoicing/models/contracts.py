"""Contracts: a customer on a plan version, with the enterprise terms finance negotiates.

Everything that changes what a contract bills is effective-dated (``effective_from`` inclusive,
``effective_to`` exclusive, dates in the contract's time zone) so that a billing period can be
split exactly where a term changes. Every model keeps full history (who, when, what changed).
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from accounts.models import Customer, validate_timezone
from billingsite.display import date_text, money_text
from billingsite.moneyfields import Digits
from invoicing.models.catalog import PlanVersion

AMOUNT: Digits = {"max_digits": 24, "decimal_places": 4}
RATE: Digits = {"max_digits": 30, "decimal_places": 12}


class CollectionMethod(models.TextChoices):
    CHARGE_AUTOMATICALLY = "charge_automatically", "Charge automatically"
    SEND_INVOICE = "send_invoice", "Send invoice"


class Contract(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="contracts")
    plan_version = models.ForeignKey(
        PlanVersion,
        on_delete=models.PROTECT,
        related_name="contracts",
        help_text="The plan version from the start date; amendments may switch it later.",
    )
    start_date = models.DateField(help_text="First day billed (in the contract's time zone).")
    end_date = models.DateField(
        null=True, blank=True, help_text="First day NOT billed any more; empty = open-ended."
    )
    billing_anchor_day = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(31)],
        help_text="Day of month periods start on; 29-31 clamp to the month's last day.",
    )
    timezone = models.CharField(max_length=64, validators=[validate_timezone])
    net_days = models.PositiveSmallIntegerField(default=30, help_text="Payment terms (net days).")
    collection_method = models.CharField(
        max_length=24, choices=CollectionMethod.choices, default=CollectionMethod.SEND_INVOICE
    )
    invoice_series = models.CharField(max_length=16, default="INV")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["customer__name", "start_date"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_date__isnull=True)
                | models.Q(end_date__gt=models.F("start_date")),
                name="contract_end_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer.external_id}: {self.plan_version} from {self.start_date}"

    @property
    def currency(self) -> str:
        return self.plan_version.plan.currency


class ContractAmendment(models.Model):
    """An effective-dated change to a contract, with who made it and what it changed.

    ``plan_version`` set means the contract moves to that version from ``effective_date``.
    ``changes`` records the amendment's full content (overrides, commits, discounts added or
    ended) for the audit trail; the effective-dated rows themselves carry the terms.
    """

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="amendments")
    effective_date = models.DateField()
    plan_version = models.ForeignKey(
        PlanVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(blank=True)
    changes = models.JSONField(default=dict, blank=True)
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
        ordering = ["contract", "effective_date", "created_at"]

    def __str__(self) -> str:
        return f"Amendment of {self.contract_id} from {self.effective_date}"


class OverrideKind(models.TextChoices):
    OVERWRITE = "overwrite", "Overwrite the price spec"
    MULTIPLIER = "multiplier", "Multiply every amount"
    TIERS = "tiers", "Replace the tiers"


class EffectiveDated(models.Model):
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True, help_text="Exclusive; empty = open.")

    class Meta:
        abstract = True


class RateOverride(EffectiveDated):
    """Changes one charge's price for one contract, from ``effective_from`` to ``effective_to``.

    ``overwrite`` replaces the spec with ``price``; ``multiplier`` multiplies every amount of the
    spec (unit amounts, flat fees, tier amounts, minimum and maximum); ``tiers`` replaces the
    spec's ``tiers`` with ``tiers``. The resulting spec is validated like any other.
    """

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="overrides")
    charge_key = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=OverrideKind.choices)
    price = models.JSONField(null=True, blank=True)
    multiplier = models.DecimalField(null=True, blank=True, **RATE)
    tiers = models.JSONField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["contract", "charge_key", "effective_from"]

    def __str__(self) -> str:
        return f"{self.kind} {self.charge_key} from {self.effective_from}"

    def describe(self) -> dict[str, object]:
        data: dict[str, object] = {
            "id": self.pk,
            "kind": self.kind,
            "charge": self.charge_key,
            "effective_from": self.effective_from.isoformat(),
        }
        if self.kind == OverrideKind.MULTIPLIER:
            data["multiplier"] = str(self.multiplier)
        return data


class CommitKind(models.TextChoices):
    PREPAID = "prepaid", "Prepaid (paid up front, drawn down by usage)"
    MINIMUM = "minimum", "Postpaid minimum (true-up when usage falls short)"


class Commit(EffectiveDated):
    """A spend commitment. ``minimum``: ``amount`` per billing period, a true-up line makes up
    the shortfall. ``prepaid``: ``amount`` invoiced once and granted as paid credit (see
    ``invoicing.services.contracts.commit_create``)."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="commits")
    kind = models.CharField(max_length=16, choices=CommitKind.choices)
    # A Decimal, not a MoneyField: a commit is a contract term in the contract's currency (its
    # plan's; a contract has no currency column to share) that the rating engine reads as a
    # number. The money it moves is stored as Money on the invoice lines and the credit grant.
    amount = models.DecimalField(**AMOUNT)
    note = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["contract", "effective_from"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="commit_amount_positive"),
        ]

    def __str__(self) -> str:
        amount = money_text(self.amount, self.contract.currency)
        return f"{self.get_kind_display()} {amount} from {date_text(self.effective_from)}"


class DiscountKind(models.TextChoices):
    PERCENTAGE = "percentage", "Percentage"
    FIXED = "fixed", "Fixed amount"


class DiscountDuration(models.TextChoices):
    ONCE = "once", "Once (the period containing the start date)"
    RECURRING = "recurring", "Every period while effective"


class Discount(EffectiveDated):
    """A signed discount line on the charges' subtotal; never more than that subtotal."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="discounts")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=DiscountKind.choices)
    value = models.DecimalField(help_text="Percent (e.g. 10) or an amount.", **RATE)
    duration = models.CharField(max_length=16, choices=DiscountDuration.choices)
    history = HistoricalRecords()

    class Meta:
        ordering = ["contract", "effective_from"]
        constraints = [
            models.CheckConstraint(condition=models.Q(value__gt=0), name="discount_positive"),
        ]

    def __str__(self) -> str:
        return self.name
