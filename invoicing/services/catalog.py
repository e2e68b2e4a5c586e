"""Catalog writes: plans, plan versions and charges with validated price specs."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max

from billingsite.errors import AppError, Conflict
from billingsite.validation import full_clean
from invoicing.models import Cadence, Charge, Plan, PlanVersion
from invoicing.pricing import parse_price_spec
from invoicing.pricing.validation import charge_validation_errors


@transaction.atomic
def plan_create(*, key: str, name: str, currency: str = "USD", description: str = "") -> Plan:
    plan = Plan(key=key, name=name, currency=currency.upper(), description=description)
    full_clean(plan, validate_unique=False)
    try:
        with transaction.atomic():
            plan.save()
    except IntegrityError as exc:
        raise Conflict("plan_exists", f"A plan with key {key!r} already exists.") from exc
    return plan


@transaction.atomic
def plan_version_create(
    *, plan: Plan, cadence: str = Cadence.MONTHLY, charges: list[dict[str, Any]], notes: str = ""
) -> PlanVersion:
    """A new version numbered after the latest, with its charges (validated all at once)."""
    Plan.objects.select_for_update().filter(pk=plan.pk).first()  # serializes version numbers
    latest = plan.versions.aggregate(v=Max("version"))["v"] or 0
    version = PlanVersion(plan=plan, version=latest + 1, cadence=cadence, notes=notes)
    full_clean(version, exclude=["plan"], validate_unique=False)
    version.save()
    problems: dict[str, Any] = {}
    seen: set[str] = set()
    for index, data in enumerate(charges):
        try:
            charge_create(plan_version=version, position=index, **data)
        except AppError as exc:
            problems[f"charges[{index}]"] = exc.details or exc.message
        if data.get("key") in seen:
            problems[f"charges[{index}].key"] = "Repeats an earlier charge's key."
        seen.add(data.get("key", ""))
    if problems:
        raise AppError("invalid_plan_version", "Some charges are not valid.", details=problems)
    return version


@transaction.atomic
def charge_create(
    *,
    plan_version: PlanVersion,
    key: str,
    name: str,
    kind: str,
    price: Any,
    meter_key: str = "",
    position: int = 0,
) -> Charge:
    errors = charge_validation_errors(kind=kind, meter_key=meter_key, price=price)
    if errors:
        raise AppError(
            "invalid_price" if "price" in errors else "invalid_charge",
            "; ".join(errors.values()),
            details=errors,
        )
    canonical = parse_price_spec(price).as_dict()
    charge = Charge(
        plan_version=plan_version,
        key=key,
        name=name,
        kind=kind,
        meter_key=meter_key,
        price=canonical,
        position=position,
    )
    full_clean(charge, exclude=["plan_version"], validate_unique=False)
    try:
        with transaction.atomic():
            charge.save()
    except IntegrityError as exc:
        raise Conflict("charge_exists", f"This version already has a charge {key!r}.") from exc
    return charge
