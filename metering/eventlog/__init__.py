"""The replicated ingest log (issue 16; docs/scaling.md): NATS JetStream between the ingest API
and the event store.

``TALLY_EVENT_LOG=nats://host:port[,host:port...]`` switches the ingest API to log mode: events
are validated in the request, rejections kept in the rejected queue as on the direct path, the
valid events published to the stream (one subject per partition, partition chosen by customer)
and the request answered once JetStream has acknowledged every part (PubAck). ``manage.py
events_sink`` consumes a partition and writes through ``metering.stores.event_store()``, where
dedup (duplicate vs conflict), attribution and late flags are decided exactly as on the direct
path. Unset, nothing here runs.
"""

from __future__ import annotations

import zlib

from django.conf import settings


def event_log_configured() -> bool:
    return bool(getattr(settings, "TALLY_EVENT_LOG", ""))


def servers() -> list[str]:
    """``nats://a:1,b:2`` -> ``["nats://a:1", "nats://b:2"]``."""
    url = settings.TALLY_EVENT_LOG
    scheme, _, hosts = url.partition("://")
    if scheme != "nats" or not hosts:
        raise ValueError(f"TALLY_EVENT_LOG must be nats://host:port[,host:port...], not {url!r}")
    return [f"nats://{host.strip()}" for host in hosts.split(",") if host.strip()]


def stream_name() -> str:
    return str(settings.TALLY_EVENT_LOG_STREAM)


def partitions() -> int:
    return int(settings.TALLY_EVENT_LOG_PARTITIONS)


def subject_prefix() -> str:
    return f"tally.{stream_name().lower()}"


def subject(partition: int) -> str:
    return f"{subject_prefix()}.{partition}"


def partition_of(customer_ref: str, count: int | None = None) -> int:
    """Stable across processes and machines (not Python's salted ``hash``)."""
    return zlib.crc32(customer_ref.encode()) % (count or partitions())


def consumer_name(partition: int) -> str:
    """One durable pull consumer per partition, shared by every sink that serves it."""
    return f"sink-{partition}"
