"""Reservations: hold an amount now, settle it when the work's cost is known.

A hold raises the counter's ``reserved`` under the same conditional upsert as consume, so holds
and grants together never pass the limit. ``commit`` records the final amount as a usage event
(id ``c<customer pk>:<feature>:res:<reservation id>``) and moves it from ``reserved`` to
``used``; ``release`` and expiry return the hold. Lock order everywhere: reservation row, then
counter row.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Customer
from billingsite.errors import Conflict, NotFound
from invoicing.entitlements import selectors as sel
from invoicing.entitlements.counters import counter_add, counter_adjust
from invoicing.entitlements.holds import close_hold as _close
from invoicing.entitlements.holds import reservations_expire
from invoicing.entitlements.models import Reservation, ReservationStatus
from invoicing.entitlements.services import (
    Decision,
    _require_metered,
    gate,
    record_usage_event,
)

ZERO = Decimal(0)


def reservation_data(res: Reservation) -> dict[str, Any]:
    return {
        "id": str(res.pk),
        "feature": res.counter.feature.key,
        "amount": res.amount,
        "final_amount": res.final_amount,
        "status": res.status,
        "expires_at": res.expires_at,
    }


def reservation_create(
    *,
    customer: Customer,
    feature_key: str,
    amount: Decimal,
    idempotency_key: str,
    expires_in: int | None = None,
    at: datetime | None = None,
) -> tuple[Decision, Reservation | None]:
    """Hold ``amount`` until the expiry, or refuse; a retry with the same key returns the
    same hold."""
    at = at or timezone.now()
    ent, decision = gate(customer, feature_key, at, announce=True)
    if ent is None or not decision.allowed:
        return decision, None
    _require_metered(ent)
    assert ent.period_start is not None
    seconds = expires_in or settings.ENTITLEMENTS_RESERVATION_DEFAULT_SECONDS
    seconds = min(seconds, settings.ENTITLEMENTS_RESERVATION_MAX_SECONDS)
    existing = _by_key(customer, ent, idempotency_key)
    if existing is not None:
        return Decision(True, None), existing
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                state = _hold(customer, ent, amount)
                if (
                    state is None
                    and attempt == 1
                    and reservations_expire(now=at, customer=customer, feature=ent.feature)
                ):
                    state = _hold(customer, ent, amount)
                if state is None:
                    usage = sel.counter_usage(customer, ent, at=at)
                    return Decision(False, sel.remaining(ent, usage), sel.LIMIT_REACHED), None
                res = Reservation.objects.create(
                    counter_id=state.id,
                    idempotency_key=idempotency_key,
                    amount=amount,
                    expires_at=at + timedelta(seconds=seconds),
                )
                left = None if ent.limit is None else ent.limit - state.used - state.reserved
                return Decision(True, left), res
        except IntegrityError:  # the same key raced us: answer its hold
            existing = _by_key(customer, ent, idempotency_key)
            if existing is not None:
                return Decision(True, None), existing
    raise Conflict("reservation_race", "Retry the reservation.")


def _hold(customer: Customer, ent: sel.Entitlement, amount: Decimal) -> Any:
    assert ent.period_start is not None
    return counter_add(
        customer_id=customer.pk,
        feature_id=ent.feature.pk,
        period_start=ent.period_start,
        period_end=ent.period_end,
        used=ZERO,
        reserved=amount,
        limit=ent.limit,
    )


def _by_key(customer: Customer, ent: sel.Entitlement, key: str) -> Reservation | None:
    return (
        Reservation.objects.select_related("counter__feature")
        .filter(
            counter__customer=customer,
            counter__feature=ent.feature,
            counter__period_start=ent.period_start or sel.LIFETIME_START,
            idempotency_key=key,
        )
        .first()
    )


def _locked(customer: Customer, reservation_id: str) -> Reservation:
    if not reservation_id.isdigit():
        raise NotFound(f"No reservation {reservation_id!r}.")
    res = (
        Reservation.objects.select_for_update(of=("self",))
        .select_related("counter__feature")
        .filter(pk=int(reservation_id), counter__customer=customer)
        .first()
    )
    if res is None:
        raise NotFound(f"No reservation {reservation_id!r}.")
    return res


@transaction.atomic
def reservation_commit(
    *,
    customer: Customer,
    reservation_id: str,
    amount: Decimal,
    properties: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> Reservation:
    """Settle a hold at ``amount`` (more than held only if the limit allows the difference);
    committing again with the same amount answers the same result."""
    at = at or timezone.now()
    res = _locked(customer, reservation_id)
    if res.status == ReservationStatus.COMMITTED and res.final_amount == amount:
        return res
    _require_held(res, at)
    feature = res.counter.feature
    ent = sel.entitlements_for(customer, at=at, feature_key=feature.key)[0]
    state = counter_adjust(res.counter_id, used=amount, reserved=-res.amount, limit=ent.limit)
    if state is None:
        raise Conflict(
            sel.LIMIT_REACHED,
            "The final amount passes the limit by more than this reservation holds.",
            details={"held": str(res.amount), "amount": str(amount)},
        )
    if amount > 0:
        record_usage_event(
            customer=customer,
            feature_key=feature.key,
            event_type=feature.usage_event_type,
            event_id=f"c{customer.pk}:{feature.key}:res:{res.pk}",
            amount=amount,
            properties={**(properties or {}), "reservation": str(res.pk)},
            at=at,
        )
    return _close(res, ReservationStatus.COMMITTED, at, final_amount=amount)


@transaction.atomic
def reservation_release(
    *, customer: Customer, reservation_id: str, at: datetime | None = None
) -> Reservation:
    """Return a hold to its counter; releasing again is a no-op."""
    at = at or timezone.now()
    res = _locked(customer, reservation_id)
    if res.status == ReservationStatus.RELEASED:
        return res
    _require_held(res, at)
    counter_adjust(res.counter_id, used=ZERO, reserved=-res.amount, limit=None)
    return _close(res, ReservationStatus.RELEASED, at)


def _require_held(res: Reservation, at: datetime) -> None:
    if res.status == ReservationStatus.HELD and res.expires_at <= at:
        counter_adjust(res.counter_id, used=ZERO, reserved=-res.amount, limit=None)
        _close(res, ReservationStatus.EXPIRED, at)
    if res.status != ReservationStatus.HELD:
        raise Conflict(
            "reservation_closed",
            f"This reservation is {res.status} already.",
            details={"status": res.status},
        )
