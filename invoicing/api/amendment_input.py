"""The body of ``POST /api/v1/contracts/{id}/amendments``, validated and sized, and its
translation into the ``AmendmentInput`` the admin's "Amend" page builds too."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from invoicing.api.fields import DecimalText
from invoicing.models import (
    CollectionMethod,
    CommitKind,
    Contract,
    DiscountDuration,
    DiscountKind,
    GrantKind,
    OverrideKind,
)
from invoicing.selectors.catalog import plan_version_by_key
from invoicing.services.contracts import AmendmentInput

MAX_ITEMS = 50
MAX_NOTE = 2000


class RateOverrideBody(serializers.Serializer):
    charge = serializers.CharField(max_length=64, help_text="The charge's key on the plan.")
    type = serializers.ChoiceField(choices=OverrideKind.choices)
    price = serializers.JSONField(required=False, help_text="overwrite: the new price spec.")
    multiplier = DecimalText(required=False, help_text='multiplier: e.g. "0.9".')
    tiers = serializers.ListField(
        child=serializers.JSONField(), required=False, max_length=100, help_text="tiers: the tiers."
    )
    replace = serializers.BooleanField(
        default=False,
        help_text="true: end the overrides of this charge in force on effective_from (the new "
        "one replaces them); false: it applies on top of them (multipliers compound).",
    )
    effective_to = serializers.DateField(required=False, allow_null=True)
    note = serializers.CharField(max_length=200, required=False, allow_blank=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        needed = {"overwrite": "price", "multiplier": "multiplier", "tiers": "tiers"}[attrs["type"]]
        if attrs.get(needed) in (None, "", [], {}):
            raise serializers.ValidationError({needed: f"A {attrs['type']} override needs it."})
        if "multiplier" in attrs and attrs["multiplier"] <= 0:
            raise serializers.ValidationError({"multiplier": "Must be positive."})
        return attrs


class CommitBody(serializers.Serializer):
    kind = serializers.ChoiceField(choices=CommitKind.choices)
    amount = DecimalText()
    effective_to = serializers.DateField(required=False, allow_null=True)
    note = serializers.CharField(max_length=200, required=False, allow_blank=True)


class DiscountBody(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=DiscountKind.choices)
    value = DecimalText(help_text='Percent (e.g. "10") or an amount.')
    duration = serializers.ChoiceField(
        choices=DiscountDuration.choices, default=DiscountDuration.RECURRING
    )
    effective_to = serializers.DateField(required=False, allow_null=True)


class GrantBody(serializers.Serializer):
    amount = DecimalText()
    kind = serializers.ChoiceField(choices=GrantKind.choices)
    priority = serializers.IntegerField(min_value=0, max_value=32767, default=100)
    effective_at = serializers.DateTimeField(required=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    note = serializers.CharField(max_length=200, required=False, allow_blank=True)


class TermsBody(serializers.Serializer):
    net_days = serializers.IntegerField(required=False, min_value=0, max_value=365)
    collection_method = serializers.ChoiceField(choices=CollectionMethod.choices, required=False)


class AmendmentBody(serializers.Serializer):
    effective_from = serializers.DateField(help_text="First day (contract's zone) it applies.")
    plan_version = serializers.IntegerField(
        required=False, min_value=1, help_text="Move to this version of the contract's plan."
    )
    end_date = serializers.DateField(required=False, help_text="End the contract (exclusive).")
    rate_overrides = serializers.ListField(
        child=RateOverrideBody(), required=False, max_length=MAX_ITEMS
    )
    commits = serializers.ListField(child=CommitBody(), required=False, max_length=MAX_ITEMS)
    discounts = serializers.ListField(child=DiscountBody(), required=False, max_length=MAX_ITEMS)
    credit_grants = serializers.ListField(child=GrantBody(), required=False, max_length=MAX_ITEMS)
    terms = TermsBody(required=False)
    note = serializers.CharField(max_length=MAX_NOTE, required=False, allow_blank=True)


class EndBody(serializers.Serializer):
    end_date = serializers.DateField(help_text="First day NOT billed (contract's zone).")
    note = serializers.CharField(max_length=MAX_NOTE, required=False, allow_blank=True)


def _override(item: dict[str, Any]) -> dict[str, Any]:
    data = {
        "charge_key": item["charge"],
        "kind": item["type"],
        "price": item.get("price"),
        "multiplier": item.get("multiplier"),
        "tiers": item.get("tiers"),
        "replace": item["replace"],
        "note": item.get("note", ""),
    }
    if item.get("effective_to"):
        data["effective_to"] = item["effective_to"]
    return data


def _dated(item: dict[str, Any]) -> dict[str, Any]:
    data = dict(item)
    if data.get("effective_to") is None:
        data.pop("effective_to", None)
    return data


def amendment_input(contract: Contract, values: dict[str, Any]) -> AmendmentInput:
    version = None
    if values.get("plan_version") is not None:
        version = plan_version_by_key(contract.plan_version.plan.key, values["plan_version"])
    grants = []
    for item in values.get("credit_grants", []):
        grant = dict(item)
        if grant.get("expires_at") is None:
            grant.pop("expires_at", None)
        grants.append(grant)
    return AmendmentInput(
        effective_date=values["effective_from"],
        plan_version=version,
        end_date=values.get("end_date"),
        overrides=tuple(_override(item) for item in values.get("rate_overrides", [])),
        commits=tuple(_dated(item) for item in values.get("commits", [])),
        discounts=tuple(_dated(item) for item in values.get("discounts", [])),
        credit_grants=tuple(grants),
        terms=dict(values.get("terms") or {}),
        note=values.get("note", ""),
    )
