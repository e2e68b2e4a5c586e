"""Reads: what a customer is entitled to now, and how much of it is used.

Resolution for one feature: the customer's contract in effect, the plan version in effect on
the contract's local date (amendments may switch it), that version's grant, then the latest
contract override in effect that day. Denial reasons are stable codes API callers branch on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.models import Customer, CustomerStatus
from invoicing.entitlements.models import (
    ContractFeatureOverride,
    EntitlementCounter,
    Feature,
    FeatureType,
    PlanFeature,
    Reservation,
    ReservationStatus,
    Reset,
)
from invoicing.models import Contract, PlanVersion
from invoicing.periods import local_date
from invoicing.selectors.invoices import contract_period

LIFETIME_START = datetime(1970, 1, 1, tzinfo=UTC)
ZERO = Decimal(0)

# Reason codes of a denial, in the order they are looked at.
SUSPENDED, PAST_DUE = "suspended", "past_due"
UNKNOWN_FEATURE, FEATURE_DISABLED = "unknown_feature", "feature_disabled"
LIMIT_REACHED, SPEND_CAP = "limit_reached", "spend_cap"


@dataclass(frozen=True)
class Entitlement:
    """One feature as it applies to one customer at one instant."""

    feature: Feature
    enabled: bool
    limit: Decimal | None
    reset: str
    value: Any
    contract: Contract | None
    period_start: datetime | None  # the counter's period (metered features only)
    period_end: datetime | None
    source: str  # "plan", "override" or "none"

    @property
    def metered(self) -> bool:
        return self.feature.type == FeatureType.METERED


def customer_denial(customer: Customer) -> str | None:
    """``suspended`` always; ``past_due`` when ENTITLEMENTS_DENY_PAST_DUE is on."""
    if customer.status == CustomerStatus.SUSPENDED:
        return SUSPENDED
    if customer.past_due_since is not None and settings.ENTITLEMENTS_DENY_PAST_DUE:
        return PAST_DUE
    return None


def contract_in_effect(customer: Customer, at: datetime) -> Contract | None:
    """The customer's contract in effect at ``at`` (the latest started, if several)."""
    contracts = Contract.objects.filter(customer=customer).select_related("plan_version__plan")
    for contract in contracts.order_by("-start_date", "-pk"):
        day = local_date(at, contract.timezone)
        if contract.start_date <= day and (contract.end_date is None or day < contract.end_date):
            return contract
    return None


def version_in_effect(contract: Contract, day: date) -> PlanVersion | Any:
    """The plan version in effect on ``day``: the latest amendment switching it, if any."""
    switched = (
        contract.amendments.filter(plan_version__isnull=False, effective_date__lte=day)
        .order_by("-effective_date", "-created_at", "-pk")
        .values_list("plan_version_id", flat=True)
        .first()
    )
    return contract.plan_version_id if switched is None else switched


def _in_effect(day: date) -> Q:
    return Q(effective_from__lte=day) & (Q(effective_to__isnull=True) | Q(effective_to__gt=day))


# In-process memo of resolved grants (the hot path's biggest cost): keyed by the contract's
# ``updated_at``, which every amendment bumps (``touch_contract``), so a contract override is
# seen at once; a plan version's own grants edited in the admin are seen within
# ENTITLEMENTS_CACHE_SECONDS. Features are memoised by key the same way (key and type never
# change once created).
_memo: dict[tuple[Any, ...], tuple[float, Any]] = {}
_MEMO_MAX = 20_000


def memoised(key: tuple[Any, ...], load: Any) -> Any:
    ttl = settings.ENTITLEMENTS_CACHE_SECONDS
    now = time.monotonic()
    hit = _memo.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    value = load()
    if ttl > 0:
        if len(_memo) >= _MEMO_MAX:
            _memo.clear()
        _memo[key] = (now + ttl, value)
    return value


def memo_clear() -> None:
    _memo.clear()


def _features(feature_key: str | None) -> dict[int, Feature]:
    def load() -> dict[int, Feature]:
        features = Feature.objects.all()
        if feature_key is not None:
            features = features.filter(key=feature_key)
        return {f.pk: f for f in features}

    found = memoised(("features", feature_key), load)
    if not found and feature_key is not None:  # created since: look again, uncached
        _memo.pop(("features", feature_key), None)
        found = load()
    return dict(found)


def _grants(contract: Contract, day: date, feature_ids: list[int]) -> dict[int, tuple[str, Any]]:
    def load() -> dict[int, tuple[str, Any]]:
        grants: dict[int, tuple[str, Any]] = {}
        version_id = version_in_effect(contract, day)
        for grant in PlanFeature.objects.filter(
            plan_version_id=version_id, feature__in=feature_ids
        ):
            grants[grant.feature_id] = ("plan", grant)
        overrides = ContractFeatureOverride.objects.filter(
            _in_effect(day), contract=contract, feature__in=feature_ids
        ).order_by("effective_from", "pk")
        for override in overrides:  # the latest in effect wins
            grants[override.feature_id] = ("override", override)
        return grants

    key = ("grants", contract.pk, contract.updated_at, day, tuple(sorted(feature_ids)))
    return dict(memoised(key, load))


def entitlements_for(
    customer: Customer, *, at: datetime | None = None, feature_key: str | None = None
) -> list[Entitlement]:
    """Every feature (or the one named) as it applies to ``customer`` at ``at``."""
    at = at or timezone.now()
    by_pk = _features(feature_key)
    contract = contract_in_effect(customer, at) if by_pk else None
    grants: dict[int, tuple[str, Any]] = {}
    if contract is not None:
        grants = _grants(contract, local_date(at, contract.timezone), list(by_pk))
    result = []
    for pk, feature in sorted(by_pk.items(), key=lambda item: item[1].key):
        source, grant = grants.get(pk, ("none", None))
        result.append(_entitlement(feature, contract, source, grant, at))
    return result


def _entitlement(
    feature: Feature, contract: Contract | None, source: str, grant: Any, at: datetime
) -> Entitlement:
    reset = grant.reset if grant is not None else Reset.PERIOD
    start: datetime | None = None
    end: datetime | None = None
    if feature.type == FeatureType.METERED and contract is not None:
        if reset == Reset.NEVER:
            start = LIFETIME_START
        else:
            period = contract_period(contract, at)
            start, end = period.start, period.end
    return Entitlement(
        feature=feature,
        enabled=bool(grant is not None and grant.enabled),
        limit=grant.limit if grant is not None else None,
        reset=reset,
        value=grant.value if grant is not None else None,
        contract=contract,
        period_start=start,
        period_end=end,
        source=source,
    )


@dataclass(frozen=True)
class Usage:
    used: Decimal
    reserved: Decimal


def counter_usage(customer: Customer, ent: Entitlement, *, at: datetime) -> Usage:
    """Used and actively reserved amounts of a metered entitlement's current counter."""
    if not ent.metered or ent.period_start is None:
        return Usage(ZERO, ZERO)
    row = (
        EntitlementCounter.objects.filter(
            customer=customer, feature=ent.feature, period_start=ent.period_start
        )
        .values("pk", "used", "reserved")
        .first()
    )
    if row is None:
        return Usage(ZERO, ZERO)
    reserved = row["reserved"]
    if reserved > 0:  # holds past expiry no longer count, even before the sweeper returns them
        reserved = (
            Reservation.objects.filter(
                counter_id=row["pk"], status=ReservationStatus.HELD, expires_at__gt=at
            ).aggregate(total=Sum("amount"))["total"]
            or ZERO
        )
    return Usage(row["used"], reserved)


def remaining(ent: Entitlement, usage: Usage) -> Decimal | None:
    if ent.limit is None:
        return None
    return max(ZERO, ent.limit - usage.used - usage.reserved)


def entitlement_data(customer: Customer, ent: Entitlement, *, at: datetime) -> dict[str, Any]:
    """The API's and usage pages' view of one entitlement."""
    usage = counter_usage(customer, ent, at=at)
    metered = ent.metered
    return {
        "feature": ent.feature.key,
        "name": ent.feature.name,
        "type": ent.feature.type,
        "enabled": ent.enabled,
        "limit": ent.limit if metered else None,
        "used": usage.used if metered else None,
        "reserved": usage.reserved if metered else None,
        "remaining": remaining(ent, usage) if metered else None,
        "reset": ent.reset if metered else None,
        "resets_at": ent.period_end if metered else None,
        "value": ent.value,
        "granted_by": ent.source,
    }
