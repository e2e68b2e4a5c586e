"""Demo meters and three weeks of usage for the demo customers (``manage.py seed_demo``).

Idempotent: meters are looked up by key, and every event id is derived from its customer, type
and absolute hour, with content derived from the id; re-running stores nothing new for hours
already seeded (the ingest service answers ``duplicate``) and adds the hours since.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone

from metering.models import Meter, UsageEvent
from metering.partitions import ensure_partitions
from metering.services import events_ingest, meter_create, rollup_drain

DAYS = 21
MODELS = ("gpt-large", "gpt-small", "embed-1")
ENDPOINTS = ("/v1/search", "/v1/items", "/v1/export")

METERS: list[dict[str, Any]] = [
    {
        "key": "api_requests",
        "name": "API requests",
        "unit": "requests",
        "event_type": "api_request",
        "aggregation": "count",
    },
    {
        "key": "storage_gb_hours",
        "name": "Storage (GB-hours)",
        "unit": "GB-hours",
        "event_type": "storage_sample",
        "aggregation": "time_weighted_sum",
        "value_property": "gb",
    },
    {
        "key": "llm_tokens",
        "name": "LLM tokens",
        "unit": "tokens",
        "event_type": "llm_usage",
        "aggregation": "sum",
        "value_property": "tokens",
        "group_by": ["model"],
    },
    {
        "key": "active_users",
        "name": "Active users",
        "unit": "users",
        "event_type": "user_active",
        "aggregation": "unique_count",
        "value_property": "user",
    },
    {
        "key": "peak_concurrency",
        "name": "Peak concurrent sessions",
        "unit": "sessions",
        "event_type": "sessions",
        "aggregation": "max",
        "value_property": "concurrent",
    },
]

# customer reference -> relative size (0 = no usage); aliases exercise attribution.
USAGE = {
    "acme": 6,
    "proj_acme_prod": 2,
    "globex": 4,
    "initech": 1,
    "umbrella": 3,
    "hooli": 2,
    "stark": 5,
    "proj_stark_b": 1,
    "pied-piper": 2,
    "proj_not_yet_created": 1,
}


def _unit(*parts: object) -> float:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _at(hour: datetime, key: str) -> str:
    return (hour + timedelta(seconds=int(_unit(key, "s") * 3599))).isoformat()


def _hour_events(ref: str, size: int, hour: datetime) -> Iterator[dict[str, Any]]:
    stamp = hour.strftime("%Y%m%d%H")
    daytime = 0.3 if hour.hour in (0, 1, 2, 3, 4, 5) else 1.0
    for k in range(int(size * 3 * daytime * (0.5 + _unit(ref, stamp)))):
        key = f"demo-{ref}-req-{stamp}-{k}"
        yield {
            "id": key,
            "customer": ref,
            "type": "api_request",
            "timestamp": _at(hour, key),
            "properties": {"endpoint": ENDPOINTS[k % 3], "status": 200},
        }
    key = f"demo-{ref}-llm-{stamp}"
    model = MODELS[int(_unit(key) * 3)]
    yield {
        "id": key,
        "customer": ref,
        "type": "llm_usage",
        "timestamp": _at(hour, key),
        "properties": {"model": model, "tokens": int(size * 900 * _unit(key, "t"))},
    }
    if hour.hour % 6 == 0:
        key = f"demo-{ref}-gb-{stamp}"
        gb = round(size * 20 + hour.timetuple().tm_yday * 0.5 * size, 1)
        yield {
            "id": key,
            "customer": ref,
            "type": "storage_sample",
            "timestamp": hour.isoformat(),
            "properties": {"gb": gb},
        }
    if hour.hour in (9, 14, 20):
        for user in range(size + int(_unit(ref, stamp, "u") * size * 2)):
            key = f"demo-{ref}-user-{stamp}-{user}"
            yield {
                "id": key,
                "customer": ref,
                "type": "user_active",
                "timestamp": _at(hour, key),
                "properties": {"user": f"user-{user}"},
            }
        key = f"demo-{ref}-sess-{stamp}"
        yield {
            "id": key,
            "customer": ref,
            "type": "sessions",
            "timestamp": _at(hour, key),
            "properties": {"concurrent": int(size * 10 * (0.5 + _unit(key)))},
        }


def demo_events(now: datetime, since: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Events of every hour from ``DAYS`` ago (or from ``since``'s hour) until now."""
    first = (now - timedelta(days=DAYS)).replace(minute=0, second=0, microsecond=0)
    hour = first + timedelta(hours=1)
    if since is not None:
        hour = max(hour, since.replace(minute=0, second=0, microsecond=0))
    while hour < now:
        for ref, size in USAGE.items():
            for item in _hour_events(ref, size, hour):
                if item["timestamp"] < now.isoformat():
                    yield item
        hour += timedelta(hours=1)


def seed(out: Any) -> None:
    for spec in METERS:
        if not Meter.objects.filter(key=spec["key"]).exists():
            meter_create(created_by="seed_demo", **spec)
        # a demo database seeded before meters had units gets them (only where none is set)
        Meter.objects.filter(key=spec["key"], unit="").update(unit=spec["unit"])
    now = timezone.now().astimezone(UTC)
    # Hours seeded by an earlier run are complete up to its latest event; resume from that
    # event's hour (re-sent events there answer "duplicate").
    latest = (
        UsageEvent.objects.filter(namespace="", event_id__startswith="demo-")
        .order_by("-timestamp")
        .values_list("timestamp", flat=True)
        .first()
    )
    counts = {"accepted": 0, "duplicate": 0, "unattributed": 0}
    batch: list[dict[str, Any]] = []
    for item in demo_events(now, since=latest):
        batch.append(item)
        if len(batch) == 1000:
            _send(batch, now, counts)
            batch = []
    if batch:
        _send(batch, now, counts)
    rolled = rollup_drain()
    # months of history arrive in DEFAULT on a new database: give them their own partitions,
    # as the nightly events_partitions task would (check_invariants flags rows in DEFAULT)
    months = ensure_partitions()
    out.write(
        f"  {len(METERS)} meters; events: {counts['accepted']} new, {counts['duplicate']} "
        f"already stored, {counts['unattributed']} unattributed; {rolled} rolled up; "
        f"{len(months)} month partition(s) made"
    )


def _send(batch: list[dict[str, Any]], now: datetime, counts: dict[str, int]) -> None:
    result = events_ingest(api_key=None, events=batch, received_at=now)
    for name in counts:
        counts[name] += result.counts[name]
