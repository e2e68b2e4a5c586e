"""Check and consume: the hot path.

``entitlement_consume`` keeps two records equal inside one transaction: the counter row of the
(customer, feature, period), raised by a conditional upsert that refuses to pass the limit, and
the usage event (namespace ``entitlements``, id ``c<customer pk>:<feature>:<idempotency key>``)
that metering's ingest service stores once per id. A retry with the same key finds its event
and answers the first result without counting again; a denial records nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Customer
from billingsite.errors import AppError, Conflict
from invoicing.entitlements import selectors as sel
from invoicing.entitlements.counters import CounterState, counter_add
from invoicing.entitlements.holds import reservations_expire
from invoicing.entitlements.models import FeatureType
from invoicing.entitlements.spend_caps import spend_cap_reached
from metering.ingest.service import CONFLICT, DUPLICATE, REJECTED, events_ingest
from metering.models import UsageEvent

NAMESPACE = "entitlements"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: Decimal | None
    reason: str | None = None
    replayed: bool = False
    event_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "allowed": self.allowed,
            "remaining": self.remaining,
            "reason": self.reason,
        }
        if self.event_id is not None:
            data["event_id"] = self.event_id
            data["replayed"] = self.replayed
        return data


def quantity_text(value: Decimal) -> str:
    """A quantity as a decimal string without trailing zeros ("20", "0.5"): "12.50" and
    "12.5" name the same consumption, so a retry stays a duplicate."""
    text = format(value.normalize(), "f")
    return "0" if text == "-0" else text


class _Refused(Exception):
    def __init__(self, decision: Decision) -> None:
        self.decision = decision


def event_id_for(customer: Customer, feature_key: str, idempotency_key: str) -> str:
    """Idempotency keys are the caller's, per customer: the event id scopes them."""
    return f"c{customer.pk}:{feature_key}:{idempotency_key}"


def gate(
    customer: Customer, feature_key: str, at: datetime, *, announce: bool = False
) -> tuple[sel.Entitlement | None, Decision]:
    """The entitlement and the decision before any amount is looked at (allowed = may go on).
    ``announce``: a binding spend cap is announced (consume and reserve; check reads only)."""
    denial = sel.customer_denial(customer)
    found = sel.entitlements_for(customer, at=at, feature_key=feature_key)
    if not found:
        return None, Decision(False, Decimal(0), sel.UNKNOWN_FEATURE)
    ent = found[0]
    if denial is not None:
        return ent, Decision(False, Decimal(0), denial)
    if not ent.enabled:
        return ent, Decision(False, Decimal(0), sel.FEATURE_DISABLED)
    if (
        ent.metered
        and ent.contract is not None
        and spend_cap_reached(ent.contract, at, announce=announce)
    ):
        return ent, Decision(False, Decimal(0), sel.SPEND_CAP)
    return ent, Decision(True, None)


def entitlement_check(
    *, customer: Customer, feature_key: str, amount: Decimal, at: datetime | None = None
) -> Decision:
    """Would ``amount`` be granted now? Reads only."""
    at = at or timezone.now()
    ent, decision = gate(customer, feature_key, at)
    if ent is None or not decision.allowed or not ent.metered:
        return decision
    left = sel.remaining(ent, sel.counter_usage(customer, ent, at=at))
    if left is not None and amount > left:
        return Decision(False, left, sel.LIMIT_REACHED)
    return Decision(True, None if left is None else left - amount)


def _require_metered(ent: sel.Entitlement) -> None:
    if ent.feature.type != FeatureType.METERED:
        raise AppError(
            "feature_not_metered",
            f"Feature {ent.feature.key!r} is {ent.feature.type}: only metered features are "
            "consumed or reserved.",
            details={"feature": ent.feature.key},
        )
    if ent.period_start is None:
        raise AppError(
            "no_contract",
            "The customer has no contract in effect, so no period to count in.",
        )


def _left(ent: sel.Entitlement, state: CounterState) -> Decimal | None:
    return None if ent.limit is None else max(Decimal(0), ent.limit - state.used - state.reserved)


def record_usage_event(
    *,
    customer: Customer,
    feature_key: str,
    event_type: str,
    event_id: str,
    amount: Decimal,
    properties: dict[str, Any],
    at: datetime,
) -> str:
    """Store the consumption as a usage event; returns its outcome (accepted or duplicate)."""
    props = {**properties, "feature": feature_key, "amount": quantity_text(amount)}
    raw = {
        "id": event_id,
        "customer": customer.external_id,
        "type": event_type,
        "properties": props,
    }
    result = events_ingest(api_key=None, events=[raw], received_at=at, id_namespace=NAMESPACE)
    outcome = result.events[0]
    if outcome["status"] == CONFLICT:
        raise Conflict(
            "idempotency_key_reused",
            "This idempotency key was used with a different amount or properties.",
            details={"event_id": event_id},
        )
    if outcome["status"] == REJECTED:
        raise AppError(outcome["reason"], outcome["message"], details={"properties": "rejected"})
    return str(outcome["status"])


def entitlement_consume(
    *,
    customer: Customer,
    feature_key: str,
    amount: Decimal,
    idempotency_key: str,
    properties: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> Decision:
    """Grant ``amount`` and record it as a usage event, or refuse and record nothing.

    Invariant: the counter's ``used`` equals the sum of this feature's consumption events in
    its period, and ``used + reserved`` never passes the limit in force when a grant is made.
    """
    at = at or timezone.now()
    ent, decision = gate(customer, feature_key, at, announce=True)
    event_id = event_id_for(customer, feature_key, idempotency_key)
    if ent is None or not decision.allowed:
        return decision
    _require_metered(ent)
    try:
        with transaction.atomic():
            return _consume(customer, ent, amount, event_id, properties or {}, at)
    except _Refused as refused:
        return refused.decision


def _consume(
    customer: Customer,
    ent: sel.Entitlement,
    amount: Decimal,
    event_id: str,
    properties: dict[str, Any],
    at: datetime,
) -> Decision:
    assert ent.period_start is not None
    state = counter_add(
        customer_id=customer.pk,
        feature_id=ent.feature.pk,
        period_start=ent.period_start,
        period_end=ent.period_end,
        used=amount,
        reserved=Decimal(0),
        limit=ent.limit,
    )
    if state is None and _sweep_expired(customer, ent, at):
        state = counter_add(
            customer_id=customer.pk,
            feature_id=ent.feature.pk,
            period_start=ent.period_start,
            period_end=ent.period_end,
            used=amount,
            reserved=Decimal(0),
            limit=ent.limit,
        )
    if state is None:
        usage = sel.counter_usage(customer, ent, at=at)
        if _already_recorded(event_id, amount):
            return Decision(True, sel.remaining(ent, usage), None, True, event_id)
        return Decision(False, sel.remaining(ent, usage), sel.LIMIT_REACHED)
    outcome = record_usage_event(
        customer=customer,
        feature_key=ent.feature.key,
        event_type=ent.feature.usage_event_type,
        event_id=event_id,
        amount=amount,
        properties=properties,
        at=at,
    )
    if outcome == DUPLICATE:  # a retry: undo this call's increment, answer the first result
        before = CounterState(state.id, state.used - amount, state.reserved)
        raise _Refused(Decision(True, _left(ent, before), None, True, event_id))
    return Decision(True, _left(ent, state), None, False, event_id)


def _already_recorded(event_id: str, amount: Decimal) -> bool:
    """Was this call granted before (a retry)? Same key with another amount: a conflict."""
    stored = (
        UsageEvent.objects.filter(namespace=NAMESPACE, event_id=event_id)
        .values_list("properties", flat=True)
        .first()
    )
    if stored is None:
        return False
    if stored.get("amount") != quantity_text(amount):
        raise Conflict(
            "idempotency_key_reused",
            "This idempotency key was used with a different amount or properties.",
            details={"event_id": event_id},
        )
    return True


def _sweep_expired(customer: Customer, ent: sel.Entitlement, at: datetime) -> bool:
    """Return this counter's expired holds before refusing; True if any was returned."""
    return reservations_expire(now=at, customer=customer, feature=ent.feature) > 0
