"""Builders for invoicing tests: a plan with charges and a contract on it, through services."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from accounts.models import Customer
from invoicing.models import Contract, PlanVersion
from invoicing.services.catalog import plan_create, plan_version_create
from invoicing.usage import UsageReading
from tests.factories import CustomerFactory

API_CALLS = {
    "key": "api_calls",
    "name": "API calls",
    "kind": "usage",
    "meter_key": "api_calls",
    "price": {"model": "per_unit", "unit_amount": "0.01"},
}
PLATFORM_FEE = {
    "key": "platform",
    "name": "Platform fee",
    "kind": "fixed",
    "price": {"model": "flat", "amount": "100.00"},
}


def make_version(
    charges: list[dict[str, Any]] | None = None,
    *,
    key: str = "pro",
    currency: str = "USD",
    cadence: str = "monthly",
) -> PlanVersion:
    from invoicing.models import Plan

    plan = Plan.objects.filter(key=key).first() or plan_create(
        key=key, name=key.title(), currency=currency
    )
    return plan_version_create(
        plan=plan,
        cadence=cadence,
        charges=charges if charges is not None else [PLATFORM_FEE, API_CALLS],
    )


def make_contract(
    customer: Customer | None = None,
    *,
    version: PlanVersion | None = None,
    start: date = date(2026, 1, 1),
    tz: str = "UTC",
    anchor: int | None = None,
    end: date | None = None,
    **kwargs: Any,
) -> Contract:
    from invoicing.services.contracts import contract_create

    customer = customer or CustomerFactory(timezone=tz)
    version = version or make_version()
    return contract_create(
        customer=customer,
        plan_version=version,
        start_date=start,
        end_date=end,
        billing_anchor_day=anchor,
        timezone_name=tz,
        **kwargs,
    )


def per_day(**rates: int) -> Callable[..., UsageReading]:
    """A usage source accruing evenly: ``rates[meter]`` units per UTC day of the interval
    asked (so any split of a period adds up to the whole)."""

    def source(
        *,
        customer: Customer,
        meter_key: str,
        start: datetime,
        end: datetime,
        group_by: Sequence[str] | None = None,
    ) -> UsageReading:
        days = Decimal((end - start).total_seconds()) / Decimal(86400)
        return UsageReading(total=days * rates.get(meter_key, 0))

    return source
