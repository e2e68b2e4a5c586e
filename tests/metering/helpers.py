"""Helpers for metering tests: event builders and an independent Python recomputation of the
rollups from raw events (the oracle for invariant 2)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from metering.meter_sql import FAR_FUTURE
from metering.models import HourlyRollup, MeterVersion, UniqueValue, UsageEvent

NOW = datetime(2026, 11, 10, 12, 30, tzinfo=UTC)


def event(
    event_id: str,
    customer: str = "acme",
    type_: str = "api_request",
    at: datetime | None = None,
    **properties: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": event_id,
        "customer": customer,
        "type": type_,
        "properties": properties,
    }
    if at is not None:
        body["timestamp"] = at.isoformat().replace("+00:00", "Z")
    return body


def _get(props: dict[str, Any], dotted: str) -> Any:
    value: Any = props
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


_MISSING = object()


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is _MISSING or value is None:
        return None
    if isinstance(value, (int, float)):
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except InvalidOperation:
            return None
        return parsed if parsed.is_finite() else None
    return None


def _matches(version: MeterVersion, e: UsageEvent) -> bool:
    if e.type != version.event_type:
        return False
    for rule in version.filters or []:
        value = _get(e.properties, rule["property"])
        if "equals" in rule and (value is _MISSING or value != rule["equals"]):
            return False
        if "in" in rule and (value is _MISSING or value not in rule["in"]):
            return False
        if "exists" in rule and (value is not _MISSING) != rule["exists"]:
            return False
    return True


def _text(value: Any) -> str | None:
    if value is _MISSING or value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def expected_rollups(
    version: MeterVersion,
    until: datetime = FAR_FUTURE,
) -> tuple[dict[tuple[Any, ...], Decimal], set[tuple[Any, ...]]]:
    """(hourly values keyed by (customer, hour, groups), unique values) from raw events."""
    later = (
        MeterVersion.objects.filter(
            meter_id=version.meter_id, effective_from__gt=version.effective_from
        )
        .order_by("effective_from")
        .first()
    )
    end = later.effective_from if later else until
    buckets: dict[tuple[Any, ...], list[tuple[datetime, int, Decimal]]] = defaultdict(list)
    uniques: set[tuple[Any, ...]] = set()
    events = UsageEvent.objects.filter(
        customer__isnull=False, timestamp__gte=version.effective_from, timestamp__lt=end
    )
    for e in events:
        if not _matches(version, e):
            continue
        ts = e.timestamp
        hour = ts.replace(minute=ts.minute - ts.minute % 15, second=0, microsecond=0)
        groups = json.dumps(
            [
                None if (v := _get(e.properties, g)) is _MISSING else v
                for g in version.group_by or []
            ]
        )
        key = (e.customer_id, hour, groups)
        if version.aggregation == "count":
            buckets[key].append((e.timestamp, e.pk, Decimal(1)))
        elif version.aggregation == "unique_count":
            text = _text(_get(e.properties, version.value_property))
            if text is not None:
                uniques.add((*key, text))
        else:
            number = _number(_get(e.properties, version.value_property))
            if number is not None:
                buckets[key].append((e.timestamp, e.pk, number))
    values: dict[tuple[Any, ...], Decimal] = {}
    for key, items in buckets.items():
        if version.aggregation in ("count", "sum"):
            values[key] = sum((v for _, _, v in items), Decimal(0))
        elif version.aggregation == "max":
            values[key] = max(v for _, _, v in items)
        elif version.aggregation == "latest":
            values[key] = max(items)[2]
    return values, uniques


def stored_rollups(
    version: MeterVersion,
) -> tuple[dict[tuple[Any, ...], Decimal], set[tuple[Any, ...]]]:
    values = {
        (r.customer_id, r.hour, json.dumps(r.group_values)): r.value.normalize()
        for r in HourlyRollup.objects.filter(meter_version=version)
    }
    uniques = {
        (u.customer_id, u.hour, json.dumps(u.group_values), u.value)
        for u in UniqueValue.objects.filter(meter_version=version)
    }
    return values, uniques


def assert_rollups_exact(version: MeterVersion) -> None:
    expected_values, expected_uniques = expected_rollups(version)
    stored_values, stored_uniques = stored_rollups(version)
    assert stored_values == {k: v.normalize() for k, v in expected_values.items()}
    assert stored_uniques == expected_uniques


def hours(n: int) -> timedelta:
    return timedelta(hours=n)


METER_SPECS: list[dict[str, Any]] = [
    {"key": "calls", "event_type": "api_request", "aggregation": "count"},
    {
        "key": "eu-calls",
        "event_type": "api_request",
        "aggregation": "count",
        "filters": [{"property": "region", "equals": "eu"}],
    },
    {
        "key": "bytes",
        "event_type": "api_request",
        "aggregation": "sum",
        "value_property": "n",
        "group_by": ["region"],
    },
    {
        "key": "peak",
        "event_type": "api_request",
        "aggregation": "max",
        "value_property": "n",
        "filters": [{"property": "region", "in": ["eu", "us"]}],
    },
    {"key": "last", "event_type": "api_request", "aggregation": "latest", "value_property": "n"},
    {
        "key": "users",
        "event_type": "api_request",
        "aggregation": "unique_count",
        "value_property": "user",
        "filters": [{"property": "user", "exists": True}],
    },
]


def create_meters() -> list[MeterVersion]:
    from metering.services import meter_create

    versions = []
    for spec in METER_SPECS:
        meter = meter_create(name=spec["key"], **spec)
        versions.append(meter.versions.get())
    return versions
