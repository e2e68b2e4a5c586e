"""Wake-ups for the rollup worker, sent after an ingest or an attribution commits.

A kick only shortens the wait: the rollup queue rows are written in the same transaction as
the events, and beat runs the rollup task every few seconds anyway, so a lost kick delays
rollups by at most that interval and loses nothing. The task is sent by name (routed like any
``metering.*`` task) so the ingest path does not import the tasks module, whose tasks import
the services that import ingest.
"""

from __future__ import annotations

import logging

from celery import current_app
from django.core.cache import cache

logger = logging.getLogger(__name__)

KICK_KEY = "metering:rollup-kick"
ROLLUP_TASK = "metering.rollup_run"


def rollup_kick() -> None:
    """Ask a worker to roll up soon; at most one request per second across all web processes."""
    try:
        if cache.add(KICK_KEY, 1, timeout=1):
            current_app.send_task(ROLLUP_TASK)
    except Exception:  # the beat schedule is the fallback; never fail an ingest over this
        logger.warning("could not enqueue a rollup run", exc_info=True)
