"""Celery tasks for alerts: evaluate queued customers; resolve triggers of ended periods."""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.cache import cache

logger = logging.getLogger(__name__)

KICK_KEY = "alerts:evaluate-kick"


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


def alerts_kick() -> None:
    """Ask a worker to evaluate soon; at most one request per second (the beat entry runs
    the task every few seconds anyway)."""
    try:
        if cache.add(KICK_KEY, 1, timeout=1):
            alerts_evaluate_task.delay()
    except Exception:  # the beat schedule is the fallback; never fail a rollup over this
        logger.warning("could not enqueue an alert evaluation", exc_info=True)
