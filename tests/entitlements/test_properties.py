"""Property: any interleaving of consume, reserve / commit / release / expire, limit amendments
and period resets keeps every counter equal to its records (``used`` = the recorded usage events
of its period, ``reserved`` = its held reservations), and no grant ever leaves
``used + reserved`` above the limit in force when it was made."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import DecimalField, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billingsite.errors import Conflict
from invoicing.entitlements.grants import FeatureChange, customer_feature_override
from invoicing.entitlements.models import EntitlementCounter, Reservation, ReservationStatus
from invoicing.entitlements.reservations import (
    reservation_commit,
    reservation_create,
    reservation_release,
    reservations_expire,
)
from invoicing.entitlements.selectors import entitlements_for
from invoicing.entitlements.services import NAMESPACE, entitlement_consume
from metering.models import UsageEvent
from tests.entitlements.builders import metered_setup

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 10, 12, tzinfo=UTC)

amounts = st.integers(min_value=1, max_value=12).map(Decimal)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("consume"), amounts, st.integers(0, 3)),  # few keys: retries
        st.tuples(st.just("reserve"), amounts, st.integers(30, 600)),
        st.tuples(st.just("commit"), st.integers(0, 9), st.integers(0, 15).map(Decimal)),
        st.tuples(st.just("release"), st.integers(0, 9)),
        st.tuples(st.just("wait"), st.integers(1, 900)),  # seconds: holds expire
        st.tuples(st.just("sweep")),
        st.tuples(st.just("amend"), st.integers(0, 40).map(Decimal)),
        st.tuples(st.just("next_period")),
    ),
    min_size=1,
    max_size=30,
)


@contextmanager
def rolled_back() -> Iterator[None]:
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def _recorded(counter: EntitlementCounter) -> Decimal:
    events = UsageEvent.objects.filter(
        namespace=NAMESPACE,
        customer_id=counter.customer_id,
        properties__feature="tokens",
        timestamp__gte=counter.period_start,
    )
    if counter.period_end is not None:
        events = events.filter(timestamp__lt=counter.period_end)
    amount = Cast(KT("properties__amount"), DecimalField(max_digits=24, decimal_places=6))
    return events.annotate(n=amount).aggregate(t=Sum("n"))["t"] or Decimal(0)


def _check_records() -> None:
    for counter in EntitlementCounter.objects.all():
        assert counter.used == _recorded(counter)
        held = Reservation.objects.filter(counter=counter, status=ReservationStatus.HELD)
        assert counter.reserved == (held.aggregate(t=Sum("amount"))["t"] or 0)


def _within_limit(customer, at: datetime) -> None:
    ent = entitlements_for(customer, at=at, feature_key="tokens")[0]
    counter = EntitlementCounter.objects.get(customer=customer, period_start=ent.period_start)
    assert ent.limit is not None and counter.used + counter.reserved <= ent.limit


def _apply(op: tuple, customer, feature, at: datetime, holds: list) -> datetime:
    kind = op[0]
    if kind == "consume":
        decision = entitlement_consume(
            customer=customer,
            feature_key="tokens",
            amount=op[1],
            idempotency_key=f"k{op[2]}-{op[1]}",
            at=at,
        )
        if decision.allowed and not decision.replayed:
            _within_limit(customer, at)
    elif kind == "reserve":
        decision, res = reservation_create(
            customer=customer,
            feature_key="tokens",
            amount=op[1],
            idempotency_key=f"h{len(holds)}",
            expires_in=op[2],
            at=at,
        )
        if res is not None:
            holds.append(res.pk)
            _within_limit(customer, at)
    elif kind in ("commit", "release") and holds:
        rid = str(holds[op[1] % len(holds)])
        try:
            if kind == "commit":
                reservation_commit(customer=customer, reservation_id=rid, amount=op[2], at=at)
                _within_limit(customer, at)
            else:
                reservation_release(customer=customer, reservation_id=rid, at=at)
        except Conflict:
            pass  # closed or expired already, or the final amount does not fit: refused
    elif kind == "wait":
        at += timedelta(seconds=op[1])
    elif kind == "sweep":
        reservations_expire(now=at)
    elif kind == "amend":
        change = FeatureChange(feature=feature, limit=op[1])
        customer_feature_override(customer=customer, change=change, at=at)
    elif kind == "next_period":
        at = datetime(at.year + at.month // 12, at.month % 12 + 1, 1, 12, tzinfo=UTC)
    return at


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations)
def test_counters_equal_their_records_under_any_interleaving(ops: list[tuple]) -> None:
    with rolled_back():
        customer, feature, _ = metered_setup("20")
        at, holds = START, []
        for op in ops:
            at = _apply(op, customer, feature, at, holds)
            _check_records()
