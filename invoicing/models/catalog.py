"""The catalog: plans, their versions and the charges each version bills.

A plan version is what a contract points at; once a contract uses a version, finance creates a
new version rather than editing prices under existing contracts (amendments and rate overrides
change what one contract pays). A charge's ``key`` is stable across versions, so overrides and
invoice lines keep naming the same thing when a customer moves to a newer version.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

from accounts.models import validate_currency
from invoicing.pricing.validation import charge_validation_errors
from invoicing.states import ChargeKind

key_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_.-]{0,63}$", "Use 1-64 lower-case letters, digits or _ . - ."
)


class Cadence(models.TextChoices):
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"
    ANNUAL = "annual", "Annual"

    @property
    def months(self) -> int:
        return {"monthly": 1, "quarterly": 3, "annual": 12}[self.value]


class Plan(models.Model):
    key = models.CharField(max_length=64, unique=True, validators=[key_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    currency = models.CharField(max_length=3, default="USD", validators=[validate_currency])
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.currency})"


class PlanVersion(models.Model):
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    cadence = models.CharField(max_length=16, choices=Cadence.choices, default=Cadence.MONTHLY)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["plan__name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "version"], name="planversion_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.plan.name} v{self.version}"

    @property
    def currency(self) -> str:
        return self.plan.currency


class Charge(models.Model):
    """One line of a plan version: a fixed fee per period or a metered usage charge.

    ``price`` is a price spec (see ``invoicing.pricing``), validated by ``clean()`` and by
    ``invoicing.services.catalog``; it is stored in its canonical form.
    """

    plan_version = models.ForeignKey(PlanVersion, on_delete=models.CASCADE, related_name="charges")
    key = models.CharField(max_length=64, validators=[key_validator])
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=ChargeKind.choices)
    meter_key = models.CharField(
        max_length=64, blank=True, help_text="The meter whose usage this charge bills (usage only)."
    )
    price = models.JSONField(
        help_text='A price spec, e.g. {"model": "per_unit", "unit_amount": "0.002"}.'
    )
    position = models.PositiveIntegerField(default=0)
    history = HistoricalRecords()

    class Meta:
        ordering = ["plan_version", "position", "key"]
        constraints = [
            models.UniqueConstraint(fields=["plan_version", "key"], name="charge_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} [{self.key}]"

    def clean(self) -> None:
        errors = charge_validation_errors(
            kind=self.kind, meter_key=self.meter_key, price=self.price
        )
        if errors:
            raise ValidationError(errors)
