"""The demo seed is idempotent: a second run stores nothing new and changes no usage."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.db import connection

from accounts import demo as accounts_demo
from metering import demo
from metering.models import HourlyRollup, Meter, UsageEvent
from metering.partitions import DEFAULT, monthly_partitions

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
    assert _rows_in_default() == 0
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


def _rows_in_default() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {DEFAULT}")  # noqa: S608
        return int(cursor.fetchone()[0])


def test_seeded_history_gets_month_partitions_not_the_default_one(monkeypatch):
    """On a new database the demo's months of history predate every partition; the seed gives
    them their own (check_invariants flags rows left in DEFAULT)."""
    monkeypatch.setattr(demo, "DAYS", 2)
    with time_machine.travel(datetime(2025, 6, 10, 12, tzinfo=UTC), tick=True):
        assert date(2025, 6, 1) not in {p.month for p in monthly_partitions()}
        accounts_demo.seed(io.StringIO())
        demo.seed(io.StringIO())
    assert UsageEvent.objects.filter(timestamp__month=6, timestamp__year=2025).exists()
    assert _rows_in_default() == 0
    assert date(2025, 6, 1) in {p.month for p in monthly_partitions()}
