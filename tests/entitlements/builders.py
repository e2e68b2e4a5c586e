"""Builders for entitlement tests: a metered feature on a plan, a customer on a contract."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from accounts.models import Customer
from invoicing.entitlements.grants import feature_create, plan_feature_set
from invoicing.entitlements.models import Feature, Reset
from invoicing.models import Contract
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract, make_version


def metered_setup(
    limit: str | None = "20",
    *,
    key: str = "tokens",
    external_id: str = "acme",
    reset: str = Reset.PERIOD,
    start: date = date(2026, 1, 1),
) -> tuple[Customer, Feature, Contract]:
    feature = Feature.objects.filter(key=key).first() or feature_create(
        key=key, name=key.title(), type="metered"
    )
    version = make_version(charges=[], key=f"plan-{external_id}")
    plan_feature_set(
        plan_version=version,
        feature=feature,
        limit=None if limit is None else Decimal(limit),
        reset=reset,
    )
    customer = CustomerFactory(external_id=external_id, name=external_id.title())
    contract = make_contract(customer, version=version, start=start)
    return customer, feature, contract
