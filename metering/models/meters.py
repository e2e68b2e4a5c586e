"""Meters and their versions.

Versioning rule: a meter's definition lives in ``MeterVersion`` rows. A version applies to the
events whose timestamp falls in ``[effective_from, next version's effective_from)``. A new
version may not start before the current hour (see ``metering.services.meters``), so usage of
hours that have already passed, and therefore of any invoiced period, never changes. Rollups are
kept per meter version.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

meter_key_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_.-]{0,63}$",
    "Use 1-64 lowercase letters, digits or _ . - (starting with a letter or digit).",
)


UNIT_MAX_LENGTH = 32


def meter_unit_validator(value: str) -> None:
    """A short printable label ("requests", "GB", "GB-hours", "tokens"): no surrounding
    spaces, no line breaks or control characters, at most 32 characters."""
    if len(value) > UNIT_MAX_LENGTH:
        raise ValidationError(f"At most {UNIT_MAX_LENGTH} characters.", code="max_length")
    if value != value.strip() or not all(ch.isprintable() for ch in value):
        raise ValidationError(
            "Printable characters only, without leading or trailing spaces.", code="invalid"
        )


class Aggregation(models.TextChoices):
    COUNT = "count", "Count of events"
    SUM = "sum", "Sum of a property"
    MAX = "max", "Maximum of a property"
    UNIQUE_COUNT = "unique_count", "Count of distinct property values"
    LATEST = "latest", "Latest value of a property"
    TIME_WEIGHTED_SUM = "time_weighted_sum", "Gauge integrated over time (value x hours)"


class Meter(models.Model):
    """A named, stable handle (``key``) that prices and invoices refer to."""

    key = models.CharField(max_length=64, unique=True, validators=[meter_key_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    unit = models.CharField(
        max_length=UNIT_MAX_LENGTH,
        blank=True,
        validators=[meter_unit_validator],
        help_text='What one unit of usage is, shown after every quantity ("requests", "GB", '
        '"tokens"); empty for none. A label only: it does not change how usage is counted.',
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class MeterVersion(models.Model):
    """One immutable definition of a meter, effective from an hour boundary."""

    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    effective_from = models.DateTimeField(
        help_text="Events at or after this instant (an hour boundary) use this definition."
    )
    event_type = models.CharField(max_length=128)
    aggregation = models.CharField(max_length=32, choices=Aggregation.choices)
    value_property = models.CharField(
        max_length=200,
        blank=True,
        help_text="Dotted property path read as the value; empty for count.",
    )
    filters = models.JSONField(
        default=list,
        blank=True,
        help_text='e.g. [{"property": "region", "in": ["eu", "us"]}, '
        '{"property": "endpoint", "equals": "/v1/x"}, '
        '{"property": "user", "exists": true}]',
    )
    group_by = models.JSONField(
        default=list, blank=True, help_text='Dotted property paths, e.g. ["model"].'
    )
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["meter_id", "effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["meter", "version"], name="meterversion_unique_no"),
            models.UniqueConstraint(
                fields=["meter", "effective_from"], name="meterversion_unique_start"
            ),
        ]
        indexes = [models.Index(fields=["event_type"])]

    def __str__(self) -> str:
        return f"{self.meter_id} v{self.version}"
