"""50 concurrent consumers (threads, each with its own PostgreSQL connection) race for the last
20 units of a limit: exactly 20 are granted, every round, and used equals the recorded events."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from invoicing.entitlements.models import EntitlementCounter
from invoicing.entitlements.services import NAMESPACE, entitlement_consume
from metering.models import UsageEvent
from tests.entitlements.builders import metered_setup

RACERS = 50
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


def _race(rounds: int) -> None:
    customers = []
    for n in range(rounds):
        customer, _, _ = metered_setup("100", external_id=f"racer-{n}")
        pre = entitlement_consume(
            customer=customer,
            feature_key="tokens",
            amount=Decimal(80),
            idempotency_key="pre",
            at=NOW,
        )
        assert pre.allowed and pre.remaining == 20
        customers.append(customer)
    start = threading.Barrier(RACERS)
    granted: list[list[bool]] = [[] for _ in range(rounds)]
    errors: list[BaseException] = []

    def racer(index: int) -> None:
        try:
            for n, customer in enumerate(customers):
                start.wait(60)
                decision = entitlement_consume(
                    customer=customer,
                    feature_key="tokens",
                    amount=Decimal(1),
                    idempotency_key=f"r{index}",
                    at=NOW,
                )
                granted[n].append(decision.allowed)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
            start.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    assert not errors, errors[:3]
    for n, customer in enumerate(customers):
        assert len(granted[n]) == RACERS
        assert sum(granted[n]) == 20, f"round {n}: {sum(granted[n])} granted"
        counter = EntitlementCounter.objects.get(customer=customer)
        assert (counter.used, counter.reserved) == (Decimal(100), Decimal(0))
        events = UsageEvent.objects.filter(namespace=NAMESPACE, customer=customer).count()
        assert events == 21  # the 80-unit one and 20 single units


@pytest.mark.django_db(transaction=True)
def test_fifty_racers_for_the_last_twenty_units_quick():
    _race(3)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_fifty_racers_for_the_last_twenty_units_100_rounds():
    _race(100)
