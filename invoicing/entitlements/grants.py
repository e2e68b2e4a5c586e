"""Writes to the entitlement catalog: features, plan-version grants, contract overrides.

A per-customer grant or override is a contract amendment (``ContractAmendment`` with
``changes["features"]``), effective-dated like a rate override and kept with its history.
Lowering a limit below what is used already never rewrites usage: remaining becomes 0 and
further consumption is refused until the next period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from accounts.models import Customer
from billingsite.errors import AppError, Conflict
from billingsite.validation import full_clean
from invoicing.entitlements.models import (
    ContractFeatureOverride,
    Feature,
    FeatureType,
    PlanFeature,
    Reset,
)
from invoicing.entitlements.selectors import contract_in_effect
from invoicing.models import Contract, ContractAmendment, PlanVersion
from invoicing.periods import local_date
from invoicing.services.contracts import touch_contract


@transaction.atomic
def feature_create(
    *, key: str, name: str, type: str, event_type: str = "", description: str = ""
) -> Feature:
    if Feature.objects.filter(key=key).exists():
        raise Conflict("feature_exists", f"A feature with key {key!r} exists.")
    feature = Feature(key=key, name=name, type=type, event_type=event_type, description=description)
    full_clean(feature)
    feature.save()
    return feature


def _check_grant(feature: Feature, limit: Decimal | None, value: Any) -> None:
    if limit is not None and feature.type != FeatureType.METERED:
        raise AppError("invalid_grant", "Only metered features take a limit.")
    if limit is not None and limit < 0:
        raise AppError("invalid_grant", "A limit cannot be negative.")
    if value is not None and feature.type != FeatureType.CONFIG:
        raise AppError("invalid_grant", "Only config features take a value.")


@transaction.atomic
def plan_feature_set(
    *,
    plan_version: PlanVersion,
    feature: Feature,
    enabled: bool = True,
    limit: Decimal | None = None,
    reset: str = Reset.PERIOD,
    value: Any = None,
) -> PlanFeature:
    """Grant (or re-grant) ``feature`` on ``plan_version``."""
    _check_grant(feature, limit, value)
    grant, _ = PlanFeature.objects.update_or_create(
        plan_version=plan_version,
        feature=feature,
        defaults={"enabled": enabled, "limit": limit, "reset": reset, "value": value},
    )
    return grant


@dataclass(frozen=True)
class FeatureChange:
    feature: Feature
    enabled: bool = True
    limit: Decimal | None = None
    reset: str = Reset.PERIOD
    value: Any = None
    effective_date: date | None = None  # None: today in the contract's time zone
    note: str = ""


def customer_feature_override(
    *,
    customer: Customer,
    change: FeatureChange,
    actor: User | None = None,
    at: datetime | None = None,
) -> ContractFeatureOverride:
    """Override one feature on the customer's contract in effect (see below)."""
    at = at or timezone.now()
    contract = contract_in_effect(customer, at)
    if contract is None:
        raise Conflict("no_contract", "The customer has no contract in effect to amend.")
    return contract_feature_override(contract=contract, change=change, actor=actor, at=at)


@transaction.atomic
def contract_feature_override(
    *,
    contract: Contract,
    change: FeatureChange,
    actor: User | None = None,
    at: datetime | None = None,
) -> ContractFeatureOverride:
    """Override one feature for ``contract`` from ``change.effective_date``, as an amendment.

    The new override ends any earlier open override of the same feature on that date, so at
    most one is in effect on any day."""
    at = at or timezone.now()
    _check_grant(change.feature, change.limit, change.value)
    day = change.effective_date or local_date(at, contract.timezone)
    Contract.objects.select_for_update().filter(pk=contract.pk).first()  # one amender at a time
    for earlier in ContractFeatureOverride.objects.filter(
        contract=contract, feature=change.feature, effective_to__isnull=True, effective_from__lt=day
    ):
        earlier.effective_to = day
        earlier._history_user = actor  # type: ignore[attr-defined]
        earlier.save(update_fields=["effective_to"])
    amendment = ContractAmendment(
        contract=contract,
        effective_date=day,
        note=change.note or f"Entitlement {change.feature.key}",
        changes={"features": [_describe(change, day)]},
        created_by=actor,
    )
    amendment._history_user = actor  # type: ignore[attr-defined]
    amendment.save()
    override = ContractFeatureOverride(
        contract=contract,
        feature=change.feature,
        enabled=change.enabled,
        limit=change.limit,
        reset=change.reset,
        value=change.value,
        effective_from=day,
        note=change.note,
        amendment=amendment,
    )
    full_clean(override, exclude=["contract", "feature", "amendment"], validate_unique=False)
    override._history_user = actor  # type: ignore[attr-defined]
    override.save()
    touch_contract(contract)
    return override


def _describe(change: FeatureChange, day: date) -> dict[str, Any]:
    return {
        "feature": change.feature.key,
        "enabled": change.enabled,
        "limit": None if change.limit is None else str(change.limit),
        "reset": change.reset,
        "value": change.value,
        "effective_from": day.isoformat(),
    }
