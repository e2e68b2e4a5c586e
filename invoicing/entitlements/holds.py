"""Closing reservation holds, and returning expired ones to their counters.

A leaf below ``services`` (which sweeps a full counter's expired holds before refusing) and
``reservations`` (commit, release): neither imports the other for it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Customer
from invoicing.entitlements.counters import counter_adjust
from invoicing.entitlements.models import Feature, Reservation, ReservationStatus

ZERO = Decimal(0)


def close_hold(res: Reservation, status: str, at: datetime, **fields: Any) -> Reservation:
    res.status = status
    res.closed_at = at
    for name, value in fields.items():
        setattr(res, name, value)
    res.save(update_fields=["status", "closed_at", *fields])
    return res


def reservations_expire(
    *,
    now: datetime | None = None,
    customer: Customer | None = None,
    feature: Feature | None = None,
    batch: int = 500,
) -> int:
    """Return every hold past its expiry to its counter; returns how many."""
    now = now or timezone.now()
    due = Reservation.objects.filter(status=ReservationStatus.HELD, expires_at__lte=now)
    if customer is not None:
        due = due.filter(counter__customer=customer)
    if feature is not None:
        due = due.filter(counter__feature=feature)
    count = 0
    with transaction.atomic():
        for res in due.select_for_update(skip_locked=True, of=("self",)).order_by("pk")[:batch]:
            counter_adjust(res.counter_id, used=ZERO, reserved=-res.amount, limit=None)
            close_hold(res, ReservationStatus.EXPIRED, now)
            count += 1
    return count
