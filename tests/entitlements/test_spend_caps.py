"""Spend caps: consume refuses once the upcoming invoice reaches the contract's cap, and
``spend_cap.reached`` is announced once per contract and period."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from billingsite.events import register_listener, unregister_listener
from invoicing.entitlements.grants import feature_create, plan_feature_set
from invoicing.entitlements.services import entitlement_check, entitlement_consume
from invoicing.entitlements.spend_caps import spend_cap_set
from invoicing.models import ContractAmendment
from tests.invoicing.factories import PLATFORM_FEE, make_contract, make_version

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.fixture
def heard():
    events: list[tuple[str, str]] = []
    register_listener("test-spend-cap", lambda t, d, *, key: events.append((t, key)))
    yield events
    unregister_listener("test-spend-cap")


def test_consume_refuses_past_the_cap_and_announces_once(heard):
    version = make_version(charges=[PLATFORM_FEE], key="capped")  # 100.00 per period
    feature = feature_create(key="tokens", name="Tokens", type="metered")
    plan_feature_set(plan_version=version, feature=feature, limit=None)
    contract = make_contract(version=version, start=date(2026, 1, 1))
    customer = contract.customer
    args = dict(customer=customer, feature_key="tokens", amount=Decimal(1), at=NOW)
    assert entitlement_consume(idempotency_key="a", **args).allowed
    spend_cap_set(contract=contract, amount=Decimal("500"), effective_date=date(2026, 3, 1))
    assert entitlement_consume(idempotency_key="b", **args).allowed
    spend_cap_set(contract=contract, amount=Decimal("100"), effective_date=date(2026, 3, 5))
    assert entitlement_check(**args).reason == "spend_cap"
    assert heard == []  # check reads only
    for key in ("c", "d"):
        refused = entitlement_consume(idempotency_key=key, **args)
        assert (refused.allowed, refused.reason) == (False, "spend_cap")
    assert (
        heard
        == [("spend_cap.reached", f"spend_cap.reached:{contract.pk}:2026-03-01T00:00:00+00:00")] * 2
    )
    assert [
        a.changes.get("spend_cap", {}).get("amount")
        for a in ContractAmendment.objects.order_by("pk")
    ] == ["500", "100"]
