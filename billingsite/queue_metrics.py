"""Celery queue backlog for /metrics, read from the Redis broker at scrape time.

kombu's Redis transport keeps one list per queue (LPUSH to publish, BRPOP to consume, so the
oldest waiting message is the list's right end) plus one list per non-zero priority step,
named ``<queue>\\x06\\x16<priority>``. Each message carries the ``published_at`` header that
``billingsite.celery`` stamps at publish time, which gives the age of the oldest waiting task.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

import redis
from django.conf import settings
from prometheus_client.core import GaugeMetricFamily

PUBLISHED_AT_HEADER = "published_at"
# kombu.transport.redis: PRIORITY_STEPS and Channel.sep (not exported as public names).
_PRIORITY_STEPS = (0, 3, 6, 9)
_PRIORITY_SEPARATOR = "\x06\x16"


def queue_names() -> list[str]:
    return [queue.name for queue in settings.CELERY_TASK_QUEUES]


def broker_lists(queue: str) -> list[str]:
    """The Redis lists holding a queue's waiting messages (priority 0 is the bare name)."""
    return [queue] + [f"{queue}{_PRIORITY_SEPARATOR}{step}" for step in _PRIORITY_STEPS if step]


def _published_at(raw: bytes | None) -> float | None:
    if raw is None:
        return None
    try:
        stamp = json.loads(raw).get("headers", {}).get(PUBLISHED_AT_HEADER)
        return float(stamp) if stamp is not None else None
    except (ValueError, TypeError, AttributeError):  # a message another producer wrote
        return None


def queue_backlog(client: redis.Redis, queue: str, *, now: float) -> tuple[int, float | None]:
    """(waiting messages, age in seconds of the oldest one with a publish stamp, or None)."""
    pipe = client.pipeline(transaction=False)
    for key in broker_lists(queue):
        pipe.llen(key)
        pipe.lindex(key, -1)
    replies = pipe.execute()
    length = sum(int(n) for n in replies[0::2])
    stamps = [s for s in (_published_at(raw) for raw in replies[1::2]) if s is not None]
    return length, (max(0.0, now - min(stamps)) if stamps else None)


def celery_queue_gauges() -> Iterable[GaugeMetricFamily]:
    length = GaugeMetricFamily(
        "tally_celery_queue_length", "Tasks waiting in a Celery queue (broker)", labels=["queue"]
    )
    age = GaugeMetricFamily(
        "tally_celery_queue_oldest_task_age_seconds",
        "Seconds the oldest waiting task of a Celery queue has waited (0 when empty)",
        labels=["queue"],
    )
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        now = time.time()
        for queue in queue_names():
            waiting, oldest_age = queue_backlog(client, queue, now=now)
            length.add_metric([queue], waiting)
            age.add_metric([queue], oldest_age or 0.0)
    finally:
        client.close()
    yield length
    yield age
