"""Celery tasks for alerts: evaluate queued customers; resolve triggers of ended periods."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="invoicing.alerts.evaluate", time_limit=300, soft_time_limit=240)
def alerts_evaluate_task(max_rounds: int = 50) -> dict[str, int]:
    from invoicing.alerts.services import alerts_evaluate_pending

    stats = alerts_evaluate_pending(max_rounds=max_rounds)
    return {"customers": stats.customers, "fired": stats.fired, "resolved": stats.resolved}


@shared_task(name="invoicing.alerts.periods_roll", time_limit=600, soft_time_limit=540)
def alerts_periods_roll_task() -> int:
    """Queue customers with open triggers whose period ended (no event may come to do it)."""
    from invoicing.alerts.services import alerts_periods_roll

    return alerts_periods_roll()
