"""Prometheus metrics for invoicing: finalizations, billing-run duration, draft backlog."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

INVOICES_FINALIZED = Counter("tally_invoices_finalized_total", "Invoices finalized")
BILLING_RUN_SECONDS = Histogram(
    "tally_billing_run_seconds",
    "Duration of one billing run",
    buckets=(0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 900),
)


def invoicing_gauges() -> Iterable[GaugeMetricFamily]:
    """Drafts waiting for their grace period, and drafts past it (the billing run is behind)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE finalize_after > now()),"
            " count(*) FILTER (WHERE finalize_after <= now())"
            " FROM invoicing_invoice WHERE status = 'draft'"
        )
        waiting, overdue = cursor.fetchone()
    drafts = GaugeMetricFamily("tally_invoice_drafts", "Draft invoices", labels=["state"])
    drafts.add_metric(["in_grace"], waiting)
    drafts.add_metric(["overdue"], overdue)
    yield drafts
