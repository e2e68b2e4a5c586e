"""Prometheus metrics for metering: outcome counters and gauges read from the database."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db import connection
from django.utils import timezone
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

EVENTS = Counter("tally_events_total", "Ingested events by outcome", ["outcome"])
INGEST_BATCH_SECONDS = Histogram(
    "tally_ingest_batch_seconds",
    "Time to validate and store one ingest request",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
ROLLUP_EVENTS = Counter("tally_rollup_events_total", "Events applied to rollups")
ROLLUP_QUARANTINED = Counter(
    "tally_rollup_quarantined_total", "Events the rollup worker could not apply (quarantined)"
)


def count_outcomes(counts: dict[str, int]) -> None:
    for outcome, n in counts.items():
        if n:
            EVENTS.labels(outcome).inc(n)


def metering_gauges() -> Iterable[GaugeMetricFamily]:
    """Rollup lag (age of the oldest queued batch, quarantined rows aside), backlog,
    quarantined events, and the review queues."""
    with connection.cursor() as cursor:
        cursor.execute(  # lag against the app clock, the one that stamped created_at
            "SELECT count(*), coalesce(sum(cardinality(event_pks)), 0),"
            " coalesce(extract(epoch FROM %s - min(created_at)), 0)"
            " FROM metering_rollupqueue WHERE quarantined_at IS NULL",
            [timezone.now()],
        )
        batches, events, lag = cursor.fetchone()
        cursor.execute(
            "SELECT coalesce(sum(cardinality(event_pks)), 0) FROM metering_rollupqueue"
            " WHERE quarantined_at IS NOT NULL"
        )
        (quarantined,) = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM metering_usageevent WHERE customer_id IS NULL")
        (unattributed,) = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM metering_eventconflict WHERE status = 'open'")
        (conflicts,) = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM metering_rejectedevent WHERE status = 'open'")
        (rejected,) = cursor.fetchone()
    yield GaugeMetricFamily(
        "tally_rollup_lag_seconds",
        "Age of the oldest event batch waiting for rollup",
        value=float(lag),
    )
    yield GaugeMetricFamily(
        "tally_rollup_backlog_events", "Events waiting for rollup", value=float(events)
    )
    yield GaugeMetricFamily(
        "tally_rollup_backlog_batches", "Batches waiting for rollup", value=float(batches)
    )
    yield GaugeMetricFamily(
        "tally_rollup_quarantined_events",
        "Events the rollup worker could not apply, waiting in quarantine for a replay",
        value=float(quarantined),
    )
    yield GaugeMetricFamily(
        "tally_events_unattributed", "Stored events with no customer yet", value=float(unattributed)
    )
    yield GaugeMetricFamily(
        "tally_event_conflicts_open", "Conflicting events awaiting review", value=float(conflicts)
    )
    yield GaugeMetricFamily(
        "tally_events_rejected_open", "Rejected events awaiting review", value=float(rejected)
    )


def rollup_stall_warning() -> str | None:
    """For /readyz: the rollup queue stopped moving, or events sit in quarantine."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT extract(epoch FROM"
            "  %s - min(created_at) FILTER (WHERE quarantined_at IS NULL)),"
            " coalesce(sum(cardinality(event_pks)) FILTER (WHERE quarantined_at IS NOT NULL), 0)"
            " FROM metering_rollupqueue",
            [timezone.now()],
        )
        lag, quarantined = cursor.fetchone()
    problems = []
    if lag is not None and lag > settings.METERING_ROLLUP_STALL_SECONDS:
        problems.append(
            f"rollup queue stalled: the oldest batch has waited {int(lag)} s "
            f"(METERING_ROLLUP_STALL_SECONDS={settings.METERING_ROLLUP_STALL_SECONDS})"
        )
    if quarantined:
        problems.append(f"{quarantined} event(s) quarantined out of the rollups")
    return "; ".join(problems) or None
