"""Tax rates of the built-in tax table (``invoicing.tax.table``) and their assignments.

A rate applies to a customer whose address is in its ``jurisdiction`` (``"DE"``: the country;
``"CA-BC"``: the country and the state/province), or whose tax id is assigned to it explicitly,
on the days from ``effective_from`` up to (not including) ``effective_to``. ``rate`` is a
percentage (``20`` for 20 %); an ``inclusive`` rate is already inside the line amounts.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

jurisdiction_validator = RegexValidator(
    r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$", "An ISO 3166 code: a country (DE) or country-state (US-CA)."
)


class TaxRate(models.Model):
    name = models.CharField(max_length=100)
    jurisdiction = models.CharField(max_length=6, validators=[jurisdiction_validator])
    rate = models.DecimalField(
        max_digits=7,
        decimal_places=4,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Percent, e.g. 20 or 7.25.",
    )
    inclusive = models.BooleanField(default=False)
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True, help_text="Exclusive; empty = open.")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["jurisdiction", "name", "-effective_from"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(effective_to__isnull=True)
                | models.Q(effective_to__gt=models.F("effective_from")),
                name="tax_rate_period_nonempty",
            ),
            models.CheckConstraint(
                condition=models.Q(rate__gte=0) & models.Q(rate__lte=100),
                name="tax_rate_percent_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.rate.normalize():f}% ({self.jurisdiction})"


class TaxRateAssignment(models.Model):
    """Assigns a rate to the customers with this tax id, wherever their address is."""

    rate = models.ForeignKey(TaxRate, on_delete=models.CASCADE, related_name="assignments")
    tax_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rate", "tax_id"], name="tax_assignment_once"),
        ]

    def __str__(self) -> str:
        return f"{self.tax_id} -> {self.rate}"
