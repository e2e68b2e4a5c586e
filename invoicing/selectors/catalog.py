"""Reads of the catalog and contracts for the API."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from accounts.models import ApiKey
from billingsite.errors import NotFound
from invoicing.models import Charge, Contract, Plan, PlanVersion


def plans_with_versions() -> QuerySet[Plan]:
    versions = PlanVersion.objects.order_by("version").prefetch_related(
        Prefetch("charges", queryset=Charge.objects.order_by("position", "key"))
    )
    return Plan.objects.prefetch_related(Prefetch("versions", queryset=versions))


def plan_version_by_key(plan_key: str, version: int | None = None) -> PlanVersion:
    """A plan's version by number, or its latest version."""
    versions = PlanVersion.objects.select_related("plan").filter(plan__key=plan_key)
    found = (
        versions.filter(version=version) if version is not None else versions.order_by("-version")
    ).first()
    if found is None:
        raise NotFound(f"No plan {plan_key!r}" + (f" version {version}." if version else "."))
    return found


def contracts_visible_to(api_key: ApiKey | None) -> QuerySet[Contract]:
    qs = Contract.objects.select_related("customer", "plan_version__plan")
    if api_key is not None and api_key.customer_id is not None:
        qs = qs.filter(customer_id=api_key.customer_id)
    return qs
