"""Outbox metrics: sends by topic and outcome, time to send, backlog and age (from the DB)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.db import connection
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

OUTBOX_SENDS = Counter(
    "tally_outbox_sends_total",
    "Outbox send attempts by topic and outcome (sent/retry/dead/held)",
    ["topic", "outcome"],
)
OUTBOX_SEND_DELAY = Histogram(
    "tally_outbox_send_delay_seconds",
    "From enqueue to successful send",
    ["topic"],
    buckets=(0.5, 1, 5, 15, 60, 300, 900, 3600, 21600),
)


def record_send(topic: str, outcome: str, delay: timedelta | None) -> None:
    OUTBOX_SENDS.labels(topic=topic, outcome=outcome).inc()
    if delay is not None:
        OUTBOX_SEND_DELAY.labels(topic=topic).observe(max(0.0, delay.total_seconds()))


def outbox_gauges() -> Iterable[GaugeMetricFamily]:
    """Rows per state (backlog = pending + failed + sending; dead needs a person) and the age
    of the oldest unsent row, so on-call sees a stuck dispatcher before customers do."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT state, count(*) FROM billingsite_outboxmessage"
            " WHERE state <> 'sent' GROUP BY state"
        )
        counts = dict(cursor.fetchall())
        cursor.execute(
            "SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)"
            " FROM billingsite_outboxmessage"
            " WHERE state IN ('pending', 'failed', 'sending')"
        )
        oldest = float(cursor.fetchone()[0])
    rows = GaugeMetricFamily(
        "tally_outbox_messages", "Unsent outbox rows by state", labels=["state"]
    )
    for state in ("pending", "sending", "failed", "dead"):
        rows.add_metric([state], counts.get(state, 0))
    yield rows
    yield GaugeMetricFamily(
        "tally_outbox_oldest_unsent_seconds",
        "Age of the oldest outbox row not yet sent",
        value=oldest,
    )
