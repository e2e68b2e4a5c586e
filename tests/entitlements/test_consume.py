"""Check and consume: limits, idempotent retries, the usage event as the record."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db.models import DecimalField, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from accounts.models import CustomerStatus
from invoicing.entitlements.models import EntitlementCounter
from invoicing.entitlements.services import NAMESPACE, entitlement_check, entitlement_consume
from metering.models import UsageEvent
from tests.entitlements.builders import metered_setup

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


def recorded(customer, feature_key: str = "tokens") -> Decimal:
    total = (
        UsageEvent.objects.filter(namespace=NAMESPACE, customer=customer)
        .filter(properties__feature=feature_key)
        .annotate(n=Cast(KT("properties__amount"), DecimalField(max_digits=24, decimal_places=6)))
        .aggregate(total=Sum("n"))["total"]
    )
    return total or Decimal(0)


def test_consume_until_the_limit_then_refuse():
    customer, _, _ = metered_setup("20")
    first = entitlement_consume(
        customer=customer, feature_key="tokens", amount=Decimal(15), idempotency_key="a", at=NOW
    )
    assert (first.allowed, first.remaining, first.reason) == (True, Decimal(5), None)
    second = entitlement_consume(
        customer=customer, feature_key="tokens", amount=Decimal(6), idempotency_key="b", at=NOW
    )
    assert (second.allowed, second.remaining, second.reason) == (False, Decimal(5), "limit_reached")
    third = entitlement_consume(
        customer=customer, feature_key="tokens", amount=Decimal(5), idempotency_key="c", at=NOW
    )
    assert (third.allowed, third.remaining) == (True, Decimal(0))
    assert recorded(customer) == Decimal(20)
    assert EntitlementCounter.objects.get(customer=customer).used == Decimal(20)


def test_retry_with_the_same_key_answers_the_first_result_and_counts_once():
    customer, _, _ = metered_setup("20")
    kwargs = dict(customer=customer, feature_key="tokens", amount=Decimal(20), at=NOW)
    first = entitlement_consume(idempotency_key="k1", **kwargs)
    again = entitlement_consume(idempotency_key="k1", **kwargs)
    assert first.allowed and again.allowed and again.replayed and not first.replayed
    assert again.event_id == first.event_id == f"c{customer.pk}:tokens:k1"
    assert recorded(customer) == Decimal(20)
    assert EntitlementCounter.objects.get(customer=customer).used == Decimal(20)


def test_check_has_no_side_effects():
    customer, _, _ = metered_setup("20")
    decision = entitlement_check(
        customer=customer, feature_key="tokens", amount=Decimal(21), at=NOW
    )
    assert (decision.allowed, decision.reason, decision.remaining) == (False, "limit_reached", 20)
    decision = entitlement_check(customer=customer, feature_key="tokens", amount=Decimal(3), at=NOW)
    assert (decision.allowed, decision.remaining) == (True, Decimal(17))
    assert not EntitlementCounter.objects.exists()
    assert not UsageEvent.objects.exists()


def test_a_new_period_starts_from_zero():
    customer, _, _ = metered_setup("20")
    assert entitlement_consume(
        customer=customer, feature_key="tokens", amount=Decimal(20), idempotency_key="m", at=NOW
    ).allowed
    april = datetime(2026, 4, 2, tzinfo=UTC)
    later = entitlement_consume(
        customer=customer, feature_key="tokens", amount=Decimal(20), idempotency_key="n", at=april
    )
    assert later.allowed and later.remaining == 0
    assert EntitlementCounter.objects.filter(customer=customer).count() == 2


def test_suspended_and_past_due(settings):
    customer, _, _ = metered_setup("20")
    customer.past_due_since = NOW
    customer.save()
    args = dict(customer=customer, feature_key="tokens", amount=Decimal(1), at=NOW)
    assert entitlement_check(**args).allowed  # the flag is off by default
    settings.ENTITLEMENTS_DENY_PAST_DUE = True
    assert entitlement_consume(idempotency_key="p", **args).reason == "past_due"
    customer.status = CustomerStatus.SUSPENDED
    customer.save()
    assert entitlement_check(**args).reason == "suspended"
    assert not UsageEvent.objects.exists()


def test_memoised_grants_see_a_contract_override_at_once(settings):
    from invoicing.entitlements.grants import FeatureChange, customer_feature_override

    settings.ENTITLEMENTS_CACHE_SECONDS = 60
    customer, feature, _ = metered_setup("20")
    args = dict(customer=customer, feature_key="tokens", amount=Decimal(30), at=NOW)
    assert not entitlement_check(**args).allowed
    customer_feature_override(
        customer=customer, change=FeatureChange(feature=feature, limit=Decimal(50)), at=NOW
    )
    assert entitlement_check(**args).allowed  # the amendment bumped the contract


def test_a_full_counter_still_answers_a_retry_and_refuses_a_reused_key():
    from billingsite.errors import Conflict

    customer, _, _ = metered_setup("20")
    args = dict(customer=customer, feature_key="tokens", idempotency_key="all", at=NOW)
    assert entitlement_consume(amount=Decimal(20), **args).allowed
    retry = entitlement_consume(amount=Decimal(20), **args)
    assert retry.allowed and retry.replayed and retry.remaining == 0
    with pytest.raises(Conflict):
        entitlement_consume(amount=Decimal(5), **args)
    assert recorded(customer) == Decimal(20)
