"""Run every invariant check and record the result; read the latest result for metrics.

The checks are read-only (``billingsite.invariants``); one that raises is recorded as failed
with its error, and the other checks still run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import connection
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from billingsite.invariant_runs.models import InvariantRun
from billingsite.invariants import Check, registered_checks, run_check

logger = logging.getLogger(__name__)

SAMPLE_SIZE = 5
KEEP = timedelta(days=90)


def invariants_run(*, trigger: str = "beat", limit: int = 20) -> InvariantRun:
    """Run every registered check once and store one ``InvariantRun``."""
    started = timezone.now()
    checks = registered_checks()
    results = [_run_one(check, limit) for check in checks]
    run = InvariantRun.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        trigger=trigger,
        checks=len(results),
        failed=sum(1 for r in results if r["violations"] or r["error"]),
        results=results,
    )
    InvariantRun.objects.filter(started_at__lt=started - KEEP).delete()
    for result in run.failing:
        logger.error(
            "invariant check failed",
            extra={
                "check": result["name"],
                "violations": result["violations"],
                "error": result["error"],
                "sample": result["sample"],
            },
        )
    return run


def _run_one(check: Check, limit: int) -> dict[str, Any]:
    began = time.monotonic()
    result: dict[str, Any] = {
        "name": check.name,
        "number": check.number,
        "title": check.title,
        "violations": 0,
        "error": "",
        "sample": [],
    }
    try:
        violations = list(run_check(check, limit=limit))
    except Exception as exc:  # one broken check must not hide the others' results
        logger.exception("invariant check raised", extra={"check": check.name})
        result["error"] = f"{type(exc).__name__}: {exc}"[:500]
    else:
        result["violations"] = len(violations)
        result["sample"] = [f"{v.subject}: {v.detail}"[:300] for v in violations[:SAMPLE_SIZE]]
    result["seconds"] = round(time.monotonic() - began, 3)
    return result


def latest_run() -> InvariantRun | None:
    return InvariantRun.objects.order_by("-started_at", "-id").first()


def invariant_gauges() -> Iterable[GaugeMetricFamily]:
    """Per check: violations in the latest run, and in how many kept runs it failed."""
    run = latest_run()
    violations = GaugeMetricFamily(
        "tally_invariant_violations",
        "Violations (capped) found by each invariant check in the latest run; -1: it raised",
        labels=["check"],
    )
    for result in run.results if run else []:
        violations.add_metric([result["name"]], -1 if result["error"] else result["violations"])
    yield violations
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r->>'name', count(*) FROM billingsite_invariantrun,"
            " jsonb_array_elements(results) r"
            " WHERE (r->>'violations')::int > 0 OR r->>'error' <> '' GROUP BY 1 ORDER BY 1"
        )
        failed_runs = cursor.fetchall()
    failures = GaugeMetricFamily(
        "tally_invariant_check_failed_runs",
        f"Recorded runs (last {KEEP.days} days) in which each invariant check failed",
        labels=["check"],
    )
    for name, count in failed_runs:
        failures.add_metric([name], count)
    yield failures
    yield GaugeMetricFamily(
        "tally_invariant_last_run_timestamp_seconds",
        "When the latest invariant run started (Unix time; 0: never)",
        value=run.started_at.timestamp() if run else 0.0,
    )
