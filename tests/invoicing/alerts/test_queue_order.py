"""The alert queue serves customers in the order they started waiting: a customer whose
events keep coming is not sent behind the others by its own marks, and usage that arrives
after a claim waits its turn like any other."""

from __future__ import annotations

import pytest

from accounts.models import Customer
from invoicing.alerts.models import AlertDirtyCustomer
from invoicing.alerts.queue import alerts_claim, alerts_mark_customers, alerts_release
from tests.invoicing.alerts.world import calls_alert, customer_on_plan

pytestmark = pytest.mark.django_db


def _watched(external_id: str) -> Customer:
    customer, _contract = customer_on_plan(external_id, plan=f"plan-{external_id}")
    calls_alert(customer)
    return customer


def _claim_one() -> int:
    claimed = alerts_claim(1)
    assert len(claimed) == 1, claimed
    return claimed[0][0]


def test_a_busy_customer_keeps_its_place_in_the_queue() -> None:
    busy, quiet = _watched("busy"), _watched("quiet")
    AlertDirtyCustomer.objects.all().delete()  # alert_create queued both

    alerts_mark_customers([busy.pk])
    alerts_mark_customers([quiet.pk])
    for _ in range(3):  # more of busy's events while it waits
        alerts_mark_customers([busy.pk])

    assert _claim_one() == busy.pk
    assert _claim_one() == quiet.pk


def test_usage_after_a_claim_waits_behind_customers_already_waiting() -> None:
    busy, quiet = _watched("busy"), _watched("quiet")
    AlertDirtyCustomer.objects.all().delete()

    alerts_mark_customers([busy.pk])
    first = alerts_claim(1)
    assert [pk for pk, _ in first] == [busy.pk]
    alerts_mark_customers([quiet.pk])
    alerts_mark_customers([busy.pk])  # during busy's evaluation
    alerts_release(first)  # marked again since the claim: busy stays queued
    assert AlertDirtyCustomer.objects.filter(customer=busy).exists()

    assert _claim_one() == quiet.pk
    assert _claim_one() == busy.pk
