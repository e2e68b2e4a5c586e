"""The nightly invariant run (``CELERY_BEAT_SCHEDULE["invariants-check"]``)."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="billingsite.invariants_check", time_limit=3600, soft_time_limit=3540)
def invariants_check_task() -> dict[str, Any]:
    from billingsite.invariant_runs.services import invariants_run

    run = invariants_run(trigger="beat")
    return {"run": run.pk, "checks": run.checks, "failed": run.failed}
