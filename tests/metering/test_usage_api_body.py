"""The usage API builds its answer without the DRF serializer (issue 15 target 2): it must be
exactly what ``UsageOutput(body).data`` answered, for grouped and ungrouped series, empty
windows, time zones with :30 offsets and values with decimals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from metering.api import serializers as s
from metering.api.views import usage_body
from metering.selectors import UsageSeries, meter_by_key, usage_series
from metering.services import events_ingest, meter_create, rollup_drain
from tests.metering.helpers import NOW, event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]


def _through_the_serializer(series: UsageSeries, customer: str) -> dict:
    """The view's previous code, verbatim."""
    body = {
        "meter": series.meter,
        "customer": customer,
        "start": series.start,
        "end": series.end,
        "window": series.window,
        "tz": series.tz,
        "total": s.decimal_text(series.total),
        "groups": [{"group": g.group, "value": s.decimal_text(g.value)} for g in series.groups],
        "series": [
            {"start": p.start, "end": p.end, "value": s.decimal_text(p.value), "group": p.group}
            for p in series.points
        ],
    }
    return s.UsageOutput(body).data


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/New_York"])
@pytest.mark.parametrize("window", ["hour", "day", "month"])
@pytest.mark.parametrize("group_by", [[], ["region"]])
def test_the_body_is_what_the_serializer_answered(customer, zone, window, group_by):
    meter_create(
        key="bytes",
        name="Bytes",
        event_type="req",
        aggregation="sum",
        value_property="bytes",
        group_by=["region"],
    )
    events_ingest(
        api_key=None,
        events=[
            event("1", type_="req", at=NOW - timedelta(days=1, hours=3), bytes=1.5, region="eu"),
            event("2", type_="req", at=NOW - timedelta(hours=5), bytes=2, region="us"),
            event("3", type_="req", at=NOW, bytes="0.125", region="ap"),
        ],
    )
    rollup_drain()
    tz = ZoneInfo(zone)
    start = datetime(2026, 11, 8, tzinfo=tz)
    end = start + (timedelta(days=40) if window == "month" else timedelta(days=3))
    series = usage_series(
        customer=customer,
        meter=meter_by_key("bytes"),
        start=start,
        end=end,
        window=window,
        tz=zone,
        group_by=group_by,
    )
    assert series.points  # a body with points, so the comparison can fail
    assert usage_body(series, "acme") == _through_the_serializer(series, "acme")
    assert usage_body(series, "acme")["start"].endswith("Z")
    assert start.astimezone(UTC) == datetime.fromisoformat(usage_body(series, "acme")["start"])
