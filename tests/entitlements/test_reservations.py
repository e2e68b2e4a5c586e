"""Reservations: holds count against the limit; commit records the final amount as a usage
event; release and expiry return the hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billingsite.errors import Conflict
from invoicing.entitlements.models import EntitlementCounter, ReservationStatus
from invoicing.entitlements.reservations import (
    reservation_commit,
    reservation_create,
    reservation_release,
    reservations_expire,
)
from invoicing.entitlements.services import NAMESPACE, entitlement_check, entitlement_consume
from metering.models import UsageEvent
from tests.entitlements.builders import metered_setup

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


def hold(customer, amount: str, key: str, **kwargs):
    return reservation_create(
        customer=customer,
        feature_key="tokens",
        amount=Decimal(amount),
        idempotency_key=key,
        at=kwargs.pop("at", NOW),
        **kwargs,
    )


def test_a_hold_counts_against_the_limit_until_committed():
    customer, _, _ = metered_setup("20")
    decision, res = hold(customer, "15", "job-1")
    assert decision.allowed and res is not None and decision.remaining == 5
    refused = entitlement_consume(
        customer=customer, feature_key="tokens", amount=Decimal(6), idempotency_key="x", at=NOW
    )
    assert (refused.allowed, refused.reason) == (False, "limit_reached")
    done = reservation_commit(
        customer=customer, reservation_id=str(res.pk), amount=Decimal(9), at=NOW
    )
    assert (done.status, done.final_amount) == (ReservationStatus.COMMITTED, Decimal(9))
    counter = EntitlementCounter.objects.get(customer=customer)
    assert (counter.used, counter.reserved) == (Decimal(9), Decimal(0))
    event = UsageEvent.objects.get(namespace=NAMESPACE, customer=customer)
    assert event.properties["amount"] == "9"
    again = reservation_commit(
        customer=customer, reservation_id=str(res.pk), amount=Decimal(9), at=NOW
    )
    assert again.pk == res.pk and UsageEvent.objects.count() == 1
    check = entitlement_check(customer=customer, feature_key="tokens", amount=Decimal(11), at=NOW)
    assert check.allowed and check.remaining == 0


def test_same_key_returns_the_same_hold_and_release_returns_it():
    customer, _, _ = metered_setup("20")
    _, first = hold(customer, "10", "job")
    _, second = hold(customer, "10", "job")
    assert first is not None and second is not None and first.pk == second.pk
    assert EntitlementCounter.objects.get(customer=customer).reserved == 10
    reservation_release(customer=customer, reservation_id=str(first.pk), at=NOW)
    reservation_release(customer=customer, reservation_id=str(first.pk), at=NOW)
    assert EntitlementCounter.objects.get(customer=customer).reserved == 0
    with pytest.raises(Conflict):
        reservation_commit(
            customer=customer, reservation_id=str(first.pk), amount=Decimal(1), at=NOW
        )
    assert not UsageEvent.objects.exists()


def test_commit_above_the_hold_only_within_the_limit():
    customer, _, _ = metered_setup("20")
    _, res = hold(customer, "10", "job")
    assert res is not None
    with pytest.raises(Conflict):
        reservation_commit(
            customer=customer, reservation_id=str(res.pk), amount=Decimal(21), at=NOW
        )
    done = reservation_commit(
        customer=customer, reservation_id=str(res.pk), amount=Decimal(20), at=NOW
    )
    assert done.status == ReservationStatus.COMMITTED
    assert EntitlementCounter.objects.get(customer=customer).used == 20


def test_expired_holds_return_by_the_sweeper_and_on_a_full_counter():
    customer, _, _ = metered_setup("20")
    _, res = hold(customer, "20", "job", expires_in=60)
    assert res is not None
    later = NOW + timedelta(seconds=61)
    # check already ignores an expired hold; consume returns it before answering
    assert entitlement_check(
        customer=customer, feature_key="tokens", amount=Decimal(20), at=later
    ).allowed
    granted = entitlement_consume(
        customer=customer, feature_key="tokens", amount=Decimal(5), idempotency_key="y", at=later
    )
    assert granted.allowed and granted.remaining == 15
    res.refresh_from_db()
    assert res.status == ReservationStatus.EXPIRED
    _, other = hold(customer, "15", "job-2", expires_in=60, at=later)
    assert other is not None
    assert reservations_expire(now=later + timedelta(seconds=61)) == 1
    counter = EntitlementCounter.objects.get(customer=customer)
    assert (counter.used, counter.reserved) == (Decimal(5), Decimal(0))
    with pytest.raises(Conflict):
        reservation_commit(
            customer=customer, reservation_id=str(other.pk), amount=Decimal(1), at=later
        )
