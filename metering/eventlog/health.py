"""How the event log is doing: per-partition backlog and oldest unconsumed message (read live
from JetStream), sink heartbeats (from PostgreSQL), as /metrics gauges and a check_invariants
check. A stopped sink shows as a growing backlog, an ageing oldest message and an ageing
heartbeat; a log that cannot be reached shows as ``tally_eventlog_up 0``."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import nats
from django.conf import settings
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from billingsite.invariants import Violation, invariant
from metering import eventlog
from metering.eventlog.client import log_client
from metering.models import SinkDeadLetter, SinkHeartbeat


@dataclass(frozen=True)
class Backlog:
    partition: int
    pending: int  # messages not yet acknowledged by a sink
    oldest_age: float  # seconds since the oldest of them was logged (0 when none)


async def _partition_backlog(js: object, partition: int, now: datetime) -> Backlog:
    stream, subject = eventlog.stream_name(), eventlog.subject(partition)
    try:
        info = await js.consumer_info(stream, eventlog.consumer_name(partition))  # type: ignore[attr-defined]
        pending = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
        first = int(info.ack_floor.stream_seq if info.ack_floor else 0) + 1
    except nats.js.errors.NotFoundError:  # no sink has ever run for it
        state = await js.stream_info(stream, subjects_filter=subject)  # type: ignore[attr-defined]
        pending = int((state.state.subjects or {}).get(subject, 0))
        first = 1
    if not pending:
        return Backlog(partition, 0, 0.0)
    try:
        oldest = await js.get_msg(stream, seq=first, subject=subject, next=True)  # type: ignore[attr-defined]
    except nats.js.errors.NotFoundError:
        return Backlog(partition, pending, 0.0)
    age = (now - oldest.time).total_seconds() if oldest.time else 0.0
    return Backlog(partition, pending, max(age, 0.0))


def log_backlogs(timeout: float | None = None) -> list[Backlog]:
    """Every partition's backlog, read live; ``timeout`` bounds the whole read (connecting
    included), default ``TALLY_EVENT_LOG_TIMEOUT_SECONDS``. Raises when the log does not answer."""
    client = log_client()
    now = datetime.now(UTC)
    limit = float(timeout if timeout is not None else client.timeout)

    async def read() -> list[Backlog]:
        js = await client.js()
        return [await _partition_backlog(js, p, now) for p in range(eventlog.partitions())]

    return client.run(asyncio.wait_for(read(), limit), timeout=limit)


_PROBES: dict[tuple[int, str, str], tuple[float, list[Backlog] | None]] = {}
_PROBES_LOCK = threading.Lock()


def probed_backlogs() -> list[Backlog] | None:
    """What /metrics shows: ``log_backlogs`` bounded by ``TALLY_EVENT_LOG_PROBE_TIMEOUT_SECONDS``
    and remembered for ``TALLY_EVENT_LOG_PROBE_CACHE_SECONDS`` per process, the answer and the
    failure alike (None: the log is down). A down log costs a scrape at most the timeout once
    per cache period instead of the publish deadline on every scrape."""
    key = (os.getpid(), settings.TALLY_EVENT_LOG, eventlog.stream_name())
    ttl = float(settings.TALLY_EVENT_LOG_PROBE_CACHE_SECONDS)
    with _PROBES_LOCK:
        seen = _PROBES.get(key)
        if seen is not None and time.monotonic() - seen[0] < ttl:
            return seen[1]
        try:
            found: list[Backlog] | None = log_backlogs(
                float(settings.TALLY_EVENT_LOG_PROBE_TIMEOUT_SECONDS)
            )
        except Exception:
            found = None
        _PROBES[key] = (time.monotonic(), found)
        return found


def eventlog_gauges() -> Iterable[GaugeMetricFamily]:
    if not eventlog.event_log_configured():
        return
    up = GaugeMetricFamily("tally_eventlog_up", "1 when the event log answered this scrape")
    pending = GaugeMetricFamily(
        "tally_eventlog_backlog_messages", "Log messages no sink has applied", labels=["partition"]
    )
    oldest = GaugeMetricFamily(
        "tally_eventlog_oldest_unconsumed_seconds",
        "Age of the oldest log message no sink has applied",
        labels=["partition"],
    )
    beat = GaugeMetricFamily(
        "tally_eventlog_sink_heartbeat_age_seconds",
        "Seconds since a sink of the partition last fetched",
        labels=["partition"],
    )
    backlogs = probed_backlogs()
    up.add_metric([], 0.0 if backlogs is None else 1.0)
    for b in backlogs or []:
        pending.add_metric([str(b.partition)], float(b.pending))
        oldest.add_metric([str(b.partition)], b.oldest_age)
    now = timezone.now()
    for row in SinkHeartbeat.objects.filter(stream=eventlog.stream_name()):
        beat.add_metric([str(row.partition)], (now - row.beat_at).total_seconds())
    parked = GaugeMetricFamily(
        "tally_eventlog_dead_letters",
        "Log messages a sink parked (undecodable, or storing them kept failing)",
        labels=["partition"],
    )
    for partition in range(eventlog.partitions()):
        parked.add_metric([str(partition)], 0.0)
    for partition, count in _dead_letters():
        parked.add_metric([str(partition)], float(count))
    yield from (up, pending, oldest, beat, parked)


def _dead_letters() -> list[tuple[int, int]]:
    from django.db.models import Count

    rows = (
        SinkDeadLetter.objects.filter(stream=eventlog.stream_name())
        .values_list("partition")
        .annotate(n=Count("pk"))
        .order_by("partition")
    )
    return [(int(p), int(n)) for p, n in rows]


@invariant(1, "no event-log message is parked as a dead letter")
def event_log_dead_letters() -> Iterator[Violation]:
    """A parked message is usage that was logged but never stored: someone has to look at it
    (admin: Sink dead letters), re-publish what was valid and delete the row."""
    if not eventlog.event_log_configured():
        return
    for partition, count in _dead_letters():
        yield Violation(
            f"event log partition {partition} ({eventlog.subject(partition)})",
            f"{count} message(s) parked as dead letters (admin: Sink dead letters)",
        )


@invariant(1, "the event log is consumed (no partition's backlog is old or unbounded)")
def event_log_consumed() -> Iterator[Violation]:
    """Events the API answered ``queued`` are counted only once a sink applies them: an old
    or huge backlog is usage missing from every page and invoice."""
    if not eventlog.event_log_configured():
        return
    stall = settings.TALLY_EVENT_LOG_STALL_SECONDS
    limit = settings.TALLY_EVENT_LOG_MAX_BACKLOG
    try:
        backlogs = log_backlogs()
    except Exception as exc:
        yield Violation(f"event log {settings.TALLY_EVENT_LOG}", f"unreachable: {exc}")
        return
    for b in backlogs:
        subject = f"event log partition {b.partition} ({eventlog.subject(b.partition)})"
        if b.oldest_age > stall:
            yield Violation(
                subject,
                f"{b.pending} message(s) unconsumed, the oldest for {b.oldest_age:.0f} s "
                f"(> {stall} s): is an events_sink running for this partition?",
            )
        elif b.pending > limit:
            yield Violation(subject, f"{b.pending} messages unconsumed (> {limit})")
