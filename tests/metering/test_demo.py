"""The demo seed is idempotent: a second run stores nothing new and changes no usage."""

from __future__ import annotations

import io

import pytest

from accounts import demo as accounts_demo
from metering import demo
from metering.models import HourlyRollup, Meter, UsageEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]


def test_seed_twice_stores_the_same_events_and_rollups(monkeypatch):
    monkeypatch.setattr(demo, "DAYS", 3)
    accounts_demo.seed(io.StringIO())
    out = io.StringIO()
    demo.seed(out)
    events = UsageEvent.objects.count()
    rollups = sorted(
        HourlyRollup.objects.values_list("meter_version_id", "customer_id", "hour", "value")
    )
    assert events > 1000 and Meter.objects.count() == len(demo.METERS)
    assert "0 already stored" in out.getvalue()
    again = io.StringIO()
    demo.seed(again)
    assert "0 new" in again.getvalue()  # only the last hour is re-sent: all duplicates
    assert UsageEvent.objects.count() == events
    assert (
        sorted(HourlyRollup.objects.values_list("meter_version_id", "customer_id", "hour", "value"))
        == rollups
    )
    assert UsageEvent.objects.filter(
        customer__isnull=True, customer_ref="proj_not_yet_created"
    ).exists()
