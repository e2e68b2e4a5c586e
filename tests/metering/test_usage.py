"""The usage selector: exact for any boundaries and time zone, distincts over the period,
time-weighted gauges, group_by projections, versions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metering.models import Meter, UsageEvent
from metering.selectors import usage_for_period, usage_series
from metering.selectors.windows import window_boundaries
from metering.services import events_ingest, meter_create, rollup_drain
from tests.metering.helpers import (
    _MISSING,
    NOW,
    _get,
    _matches,
    _number,
    _text,
    create_meters,
    event,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]


def seed_events(count: int = 300) -> None:
    events = [
        event(
            f"s{i}",
            at=NOW - timedelta(minutes=(i * 37) % (60 * 60)),
            n=(i * 13) % 17 + 0.5,
            region=["eu", "us", "ap"][i % 3],
            **({"user": f"u{i % 9}"} if i % 4 else {}),
        )
        for i in range(count)
    ]
    events_ingest(api_key=None, events=events)
    rollup_drain()


def oracle(meter: Meter, start: datetime, end: datetime, dims: list[str]):
    version = meter.versions.get()
    values: dict[str, list] = {}
    for e in UsageEvent.objects.filter(
        customer__external_id="acme", timestamp__gte=start, timestamp__lt=end
    ).order_by("timestamp", "id"):
        if not _matches(version, e):
            continue
        key = json.dumps([None if (v := _get(e.properties, d)) is _MISSING else v for d in dims])
        if version.aggregation == "count":
            values.setdefault(key, []).append(Decimal(1))
        elif version.aggregation == "unique_count":
            text = _text(_get(e.properties, version.value_property))
            if text is not None:
                values.setdefault(key, []).append(text)
        else:
            number = _number(_get(e.properties, version.value_property))
            if number is not None:
                values.setdefault(key, []).append(number)
    agg = version.aggregation
    reduce = {
        "count": sum,
        "sum": sum,
        "max": max,
        "latest": lambda xs: xs[-1],
        "unique_count": lambda xs: Decimal(len(set(xs))),
    }[agg]
    per_group = {k: reduce(v) for k, v in values.items()}
    if agg == "unique_count":
        total = Decimal(len({x for v in values.values() for x in v})) if values else Decimal(0)
    elif not per_group:
        total = None if agg in ("max", "latest") else Decimal(0)
    elif agg == "max":
        total = max(per_group.values())
    elif agg == "latest":
        total = None  # checked per group only
    else:
        total = sum(per_group.values())
    return per_group, total


ZONES = ["UTC", "Asia/Kolkata", "America/St_Johns", "Asia/Kathmandu", "America/New_York"]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    meter_index=st.integers(0, 5),
    zone=st.sampled_from(ZONES),
    window=st.sampled_from(["hour", "day"]),
    start_minutes=st.integers(0, 3000),
    length_minutes=st.integers(1, 3000),
    grouped=st.booleans(),
)
def test_series_equal_raw_events_for_any_boundaries(
    meter_index, zone, window, start_minutes, length_minutes, grouped
):
    if not Meter.objects.exists():
        from tests.factories import CustomerFactory

        CustomerFactory(external_id="acme", name="Acme")
        create_meters()
        seed_events()
    meter = Meter.objects.order_by("id")[meter_index]
    dims = ["region"] if grouped and meter.key == "bytes" else []
    start = NOW - timedelta(hours=62) + timedelta(minutes=start_minutes)
    end = start + timedelta(minutes=length_minutes)
    if window == "hour" and length_minutes > 1500:
        end = start + timedelta(minutes=1500)
    series = usage_series(
        customer=meter_customer(),
        meter=meter,
        start=start,
        end=end,
        window=window,
        tz=zone,
        group_by=dims,
    )
    bounds = window_boundaries(start, end, window, ZoneInfo(zone))
    assert [(p.start, p.end) for p in series.points if not dims] == [
        (bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)
    ] or dims
    for point in series.points:
        expected, _ = oracle(meter, point.start, point.end, dims)
        key = json.dumps([point.group[d] for d in dims]) if dims else "[]"
        if meter.versions.get().aggregation in ("max", "latest") and key not in expected:
            assert point.value is None
        else:
            assert point.value == expected.get(key, Decimal(0)), (point, expected)
    _, total = oracle(meter, start, end, dims)
    if total is not None:
        assert series.total == total


def meter_customer():
    from accounts.models import Customer

    return Customer.objects.get(external_id="acme")


def test_unique_count_over_a_period_is_not_a_sum_of_hours(customer):
    meter = meter_create(
        key="mau", name="MAU", event_type="login", aggregation="unique_count", value_property="user"
    )
    events_ingest(
        api_key=None,
        events=[
            event(f"l{h}-{u}", type_="login", at=NOW - timedelta(hours=h), user=u)
            for h in range(10)
            for u in ("ann", "bob")
        ],
    )
    rollup_drain()
    usage = usage_for_period(
        customer=customer,
        meter=meter,
        start=NOW - timedelta(days=1),
        end=NOW + timedelta(minutes=1),
    )
    assert usage.total == 2
    series = usage_series(
        customer=customer,
        meter=meter,
        start=NOW - timedelta(days=1),
        end=NOW + timedelta(minutes=1),
        window="hour",
        tz="UTC",
    )
    assert sum(p.value for p in series.points) == 20


def test_time_weighted_sum_integrates_a_gauge_exactly(customer):
    meter = meter_create(
        key="storage",
        name="Storage GB-hours",
        event_type="storage",
        aggregation="time_weighted_sum",
        value_property="gb",
        group_by=["bucket"],
    )
    t0 = datetime(2026, 11, 10, 0, 0, tzinfo=UTC)
    events_ingest(
        api_key=None,
        events=[
            event("g0", type_="storage", at=t0 - timedelta(hours=5), gb=10, bucket="a"),  # before
            event("g1", type_="storage", at=t0 + timedelta(hours=2), gb=4, bucket="a"),
            event("g2", type_="storage", at=t0 + timedelta(hours=3, minutes=30), gb=0, bucket="a"),
            event("h1", type_="storage", at=t0 + timedelta(hours=1), gb="2.5", bucket="b"),
        ],
    )
    end = t0 + timedelta(hours=6)
    usage = usage_for_period(customer=customer, meter=meter, start=t0, end=end, group_by=["bucket"])
    by_bucket = {g.group["bucket"]: g.value for g in usage.groups}
    # a: 10 GB for 2 h + 4 GB for 1.5 h + 0 after; b: 2.5 GB for 5 h.
    assert by_bucket == {"a": Decimal(26), "b": Decimal("12.5")}
    assert usage.total == Decimal("38.5")
    hourly = usage_series(
        customer=customer, meter=meter, start=t0, end=end, window="hour", tz="UTC"
    )
    assert [p.value for p in hourly.points] == [
        10,
        Decimal("12.5"),
        Decimal("6.5"),
        Decimal("4.5"),
        Decimal("2.5"),
        Decimal("2.5"),
    ]
    with time_machine.travel(t0 + timedelta(hours=1, minutes=30), tick=False):
        so_far = usage_for_period(customer=customer, meter=meter, start=t0, end=end)
    assert so_far.total == Decimal(15) + Decimal("1.25")  # stops at now, not at period end


def test_group_by_subset_and_latest_and_max(customer):
    meters = {m.meter.key: m.meter for m in create_meters()}
    events_ingest(
        api_key=None,
        events=[
            event("x1", at=NOW - timedelta(minutes=30), n=5, region="eu"),
            event("x2", at=NOW - timedelta(minutes=20), n=9, region="us"),
            event("x3", at=NOW - timedelta(minutes=10), n=2, region="eu"),
        ],
    )
    rollup_drain()
    period = {"customer": customer, "start": NOW - timedelta(hours=1), "end": NOW}
    assert usage_for_period(meter=meters["last"], **period).total == 2
    assert usage_for_period(meter=meters["peak"], **period).total == 9
    grouped = usage_for_period(meter=meters["bytes"], group_by=["region"], **period)
    assert {g.group["region"]: g.value for g in grouped.groups} == {"eu": 7, "us": 9}
    assert grouped.total == 16


def test_usage_across_meter_versions(customer):
    from metering.services import meter_update

    meter = meter_create(
        key="bytes", name="Bytes", event_type="api_request", aggregation="sum", value_property="n"
    )
    events_ingest(api_key=None, events=[event("v1", at=NOW - timedelta(hours=3), n=1, m=100)])
    meter_update(meter=meter, value_property="m")
    events_ingest(api_key=None, events=[event("v2", at=NOW, n=1, m=100)])
    rollup_drain()
    series = usage_series(
        customer=customer,
        meter=meter,
        start=NOW - timedelta(hours=4),
        end=NOW + timedelta(minutes=5),
        window="hour",
        tz="UTC",
    )
    assert series.total == 101
    assert [p.value for p in series.points if p.value] == [1, 100]


def test_window_validation(customer):
    from billingsite.errors import AppError

    meter = meter_create(key="c", name="c", event_type="t", aggregation="count")
    with pytest.raises(AppError):
        usage_series(
            customer=customer,
            meter=meter,
            start=NOW,
            end=NOW - timedelta(hours=1),
            window="day",
            tz="UTC",
        )
    with pytest.raises(AppError) as too_many:
        usage_series(
            customer=customer,
            meter=meter,
            start=NOW - timedelta(days=400),
            end=NOW,
            window="hour",
            tz="UTC",
        )
    assert too_many.value.code == "too_many_windows"


def _three_customers_with_usage() -> list[int]:
    from accounts.models import Customer
    from tests.factories import CustomerFactory

    for name in ("acme", "beta", "gamma"):
        CustomerFactory(external_id=name, name=name)
    create_meters()
    events_ingest(
        api_key=None,
        events=[
            event(
                f"{who}{i}",
                customer=who,
                at=NOW - timedelta(minutes=(i * 41) % 3000),
                n=(i * 7) % 11 + 0.25,
                region=["eu", "us"][i % 2],
                **({"user": f"u{i % 5}"} if i % 3 else {}),
            )
            for who, count in (("acme", 120), ("beta", 60))
            for i in range(count)
        ],
    )  # gamma has no usage at all
    rollup_drain()
    return list(Customer.objects.order_by("external_id").values_list("pk", flat=True))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    meter_index=st.integers(0, 5),
    start_minutes=st.integers(0, 3000),
    length_minutes=st.integers(1, 3000),
    grouped=st.booleans(),
)
def test_batched_read_equals_one_read_per_customer(
    meter_index, start_minutes, length_minutes, grouped
):
    """The billing run reads a chunk of customers at once: for every aggregation, boundary
    (whole buckets or cut ones read from raw events) and grouping, each customer's result is
    the single-customer selector's, and a customer without usage gets the empty result."""
    from accounts.models import Customer
    from metering.selectors.usage import usage_for_customers

    if not Meter.objects.exists():
        _three_customers_with_usage()
    ids = list(Customer.objects.order_by("external_id").values_list("pk", flat=True))
    meter = Meter.objects.order_by("id")[meter_index]
    dims = ["region"] if grouped and meter.key == "bytes" else None
    start = NOW - timedelta(hours=55) + timedelta(minutes=start_minutes)
    end = start + timedelta(minutes=length_minutes)
    batched = usage_for_customers(
        customer_ids=ids, meter=meter, start=start, end=end, group_by=dims
    )
    assert sorted(batched) == sorted(ids)
    for customer in Customer.objects.filter(pk__in=ids):
        one = usage_for_period(customer=customer, meter=meter, start=start, end=end, group_by=dims)
        assert batched[customer.pk] == one, (customer.external_id, meter.key)
