"""Features, what plan versions grant, per-contract overrides, and the live counters.

A metered feature's consumption is recorded twice in one transaction: as a usage event (the
record, billed like any other) and on the ``EntitlementCounter`` row of its (customer, feature,
period), whose conditional update is what keeps concurrent callers under the limit. The counter
is a running sum of those events, never edited by hand.
"""

from __future__ import annotations

from django.db import models
from simple_history.models import HistoricalRecords

from accounts.models import Customer
from invoicing.models.catalog import PlanVersion, key_validator
from invoicing.models.contracts import Contract, ContractAmendment, EffectiveDated


class FeatureType(models.TextChoices):
    BOOLEAN = "boolean", "Boolean (on or off)"
    METERED = "metered", "Metered (a limit per period or lifetime)"
    CONFIG = "config", "Config (a value, e.g. a seat count or a model tier)"


class Reset(models.TextChoices):
    PERIOD = "period", "Every billing period"
    NEVER = "never", "Never (a lifetime limit)"


class Feature(models.Model):
    key = models.CharField(max_length=64, unique=True, validators=[key_validator])
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=16, choices=FeatureType.choices)
    event_type = models.CharField(
        max_length=128,
        blank=True,
        help_text="Usage events recorded by consume carry this type (meters bill them); "
        "empty = the feature key.",
    )
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.name} [{self.key}]"

    @property
    def usage_event_type(self) -> str:
        return self.event_type or self.key


class Grant(models.Model):
    """What a plan version or an override says about a feature."""

    enabled = models.BooleanField(default=True)
    limit = models.DecimalField(
        null=True,
        blank=True,
        help_text="Metered only; empty = unlimited.",
        max_digits=24,
        decimal_places=6,
    )
    reset = models.CharField(max_length=8, choices=Reset.choices, default=Reset.PERIOD)
    value = models.JSONField(null=True, blank=True, help_text="Config features: the value.")

    class Meta:
        abstract = True


class PlanFeature(Grant):
    plan_version = models.ForeignKey(PlanVersion, on_delete=models.CASCADE, related_name="features")
    feature = models.ForeignKey(Feature, on_delete=models.PROTECT, related_name="plan_grants")
    history = HistoricalRecords()

    class Meta:
        ordering = ["plan_version", "feature__key"]
        constraints = [
            models.UniqueConstraint(fields=["plan_version", "feature"], name="planfeature_unique"),
            models.CheckConstraint(
                condition=models.Q(limit__isnull=True) | models.Q(limit__gte=0),
                name="planfeature_limit_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan_version}: {self.feature.key}"


class ContractFeatureOverride(Grant, EffectiveDated):
    """Overrides one feature for one contract from ``effective_from`` (an amendment records it);
    the latest override in effect on a day wins over the plan version's grant."""

    contract = models.ForeignKey(
        Contract, on_delete=models.CASCADE, related_name="feature_overrides"
    )
    feature = models.ForeignKey(Feature, on_delete=models.PROTECT, related_name="overrides")
    amendment = models.ForeignKey(
        ContractAmendment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["contract", "feature__key", "effective_from", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(limit__isnull=True) | models.Q(limit__gte=0),
                name="featureoverride_limit_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.feature.key} for contract {self.contract_id} from {self.effective_from}"


class EntitlementCounter(models.Model):
    """``used`` (recorded usage events) and ``reserved`` (active holds) of one customer's
    metered feature in one period (``period_start`` 1970-01-01 for lifetime limits)."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    feature = models.ForeignKey(Feature, on_delete=models.PROTECT, related_name="counters")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField(null=True, blank=True)
    used = models.DecimalField(default=0, max_digits=24, decimal_places=6)
    reserved = models.DecimalField(default=0, max_digits=24, decimal_places=6)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["customer", "feature", "-period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "feature", "period_start"], name="entitlementcounter_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(used__gte=0) & models.Q(reserved__gte=0),
                name="entitlementcounter_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}/{self.feature_id} from {self.period_start:%Y-%m-%d}"


class ReservationStatus(models.TextChoices):
    HELD = "held", "Held"
    COMMITTED = "committed", "Committed"
    RELEASED = "released", "Released"
    EXPIRED = "expired", "Expired"


class Reservation(models.Model):
    """A hold on ``amount`` of a counter until ``expires_at``; committed (with the final
    amount, recorded as a usage event), released, or expired by the sweeper."""

    counter = models.ForeignKey(
        EntitlementCounter, on_delete=models.PROTECT, related_name="reservations"
    )
    idempotency_key = models.CharField(max_length=200)
    amount = models.DecimalField(max_digits=24, decimal_places=6)
    final_amount = models.DecimalField(null=True, blank=True, max_digits=24, decimal_places=6)
    status = models.CharField(
        max_length=16, choices=ReservationStatus.choices, default=ReservationStatus.HELD
    )
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["counter", "idempotency_key"], name="reservation_key_unique"
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="reservation_positive"),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"],
                name="reservation_held_expiry",
                condition=models.Q(status="held"),
            ),
        ]

    def __str__(self) -> str:
        return f"res_{self.pk} ({self.status})"


class SpendCap(EffectiveDated):
    """A contract's spend limit per billing period (the contract's currency): consume refuses
    with ``spend_cap`` once the upcoming invoice reaches it. Set through an amendment."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="spend_caps")
    amount = models.DecimalField(max_digits=24, decimal_places=4)
    amendment = models.ForeignKey(
        ContractAmendment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["contract", "effective_from", "pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="spendcap_positive"),
        ]

    def __str__(self) -> str:
        return f"Spend cap {self.amount} for contract {self.contract_id} from {self.effective_from}"
