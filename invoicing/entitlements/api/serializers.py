"""Inputs and outputs of the entitlement API; sizes are bounded, quantities are decimals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from rest_framework import serializers

from invoicing.entitlements.models import FeatureType, Reset
from invoicing.entitlements.services import quantity_text

MAX_PROPERTIES = 40


def quantity_field(**options: Any) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=24, decimal_places=6, **options)


def quantity(value: Decimal | None) -> str | None:
    """A quantity as a decimal string without trailing zeros ("20", "0.5")."""
    return None if value is None else quantity_text(value)


class Properties(serializers.DictField):
    def to_internal_value(self, data: Any) -> dict[str, Any]:
        value = super().to_internal_value(data)
        if len(value) > MAX_PROPERTIES:
            raise serializers.ValidationError(f"At most {MAX_PROPERTIES} properties.")
        return dict(value)


class FeatureInput(serializers.Serializer):
    key = serializers.RegexField(r"^[a-z0-9][a-z0-9_.-]{0,63}$", max_length=64)
    name = serializers.CharField(max_length=200)
    type = serializers.ChoiceField(choices=FeatureType.choices)
    event_type = serializers.CharField(max_length=128, required=False, allow_blank=True)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class FeatureOutput(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    type = serializers.CharField()
    event_type = serializers.CharField()
    description = serializers.CharField()


class GrantInput(serializers.Serializer):
    feature = serializers.CharField(max_length=64)
    enabled = serializers.BooleanField(default=True)
    limit = quantity_field(required=False, allow_null=True, min_value=Decimal(0))
    reset = serializers.ChoiceField(choices=Reset.choices, default=Reset.PERIOD)
    value = serializers.JSONField(required=False, allow_null=True)
    effective_date = serializers.DateField(required=False)
    note = serializers.CharField(max_length=200, required=False, allow_blank=True)


class EntitlementOutput(serializers.Serializer):
    feature = serializers.CharField()
    name = serializers.CharField()
    type = serializers.CharField()
    enabled = serializers.BooleanField()
    limit = serializers.CharField(allow_null=True, help_text="Empty for unlimited or unmetered.")
    used = serializers.CharField(allow_null=True)
    reserved = serializers.CharField(allow_null=True)
    remaining = serializers.CharField(allow_null=True)
    reset = serializers.CharField(allow_null=True)
    resets_at = serializers.DateTimeField(allow_null=True)
    value = serializers.JSONField(allow_null=True)
    granted_by = serializers.CharField(help_text="plan, override or none")


class EntitlementsOutput(serializers.Serializer):
    customer = serializers.CharField()
    entitlements = EntitlementOutput(many=True)


class CheckInput(serializers.Serializer):
    feature = serializers.CharField(max_length=64)
    amount = quantity_field(default=Decimal(1), min_value=Decimal(0))


class ConsumeInput(CheckInput):
    idempotency_key = serializers.CharField(max_length=128)
    properties = Properties(required=False)


class DecisionOutput(serializers.Serializer):
    allowed = serializers.BooleanField()
    remaining = serializers.CharField(allow_null=True, help_text="Empty when unlimited.")
    reason = serializers.ChoiceField(
        choices=[
            "limit_reached",
            "suspended",
            "past_due",
            "feature_disabled",
            "unknown_feature",
            "spend_cap",
        ],
        allow_null=True,
    )
    event_id = serializers.CharField(required=False, help_text="consume: the usage event's id")
    replayed = serializers.BooleanField(required=False, help_text="consume: a retry's answer")


class ReservationInput(serializers.Serializer):
    feature = serializers.CharField(max_length=64)
    amount = quantity_field(min_value=Decimal("0.000001"))
    idempotency_key = serializers.CharField(max_length=128)
    expires_in = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=settings.ENTITLEMENTS_RESERVATION_MAX_SECONDS,
        help_text="Seconds the hold lasts (default ENTITLEMENTS_RESERVATION_DEFAULT_SECONDS).",
    )


class CommitInput(serializers.Serializer):
    amount = quantity_field(min_value=Decimal(0))
    properties = Properties(required=False)


class ReservationOutput(serializers.Serializer):
    id = serializers.CharField()
    feature = serializers.CharField()
    amount = serializers.CharField()
    final_amount = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    expires_at = serializers.DateTimeField()


class ReservationAnswer(DecisionOutput):
    reservation = ReservationOutput(allow_null=True)
