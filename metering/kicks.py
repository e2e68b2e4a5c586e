"""Wake-ups for the rollup worker, sent after an ingest or an attribution commits.

A kick only shortens the wait: the rollup queue rows are written in the same transaction as
the events, and beat runs the rollup task every few seconds anyway, so a lost kick delays
rollups by at most that interval and loses nothing. The task is sent by name (routed like any
``metering.*`` task) so the ingest path does not import the tasks module, whose tasks import
the services that import ingest.

Kicks are coalesced twice: across processes by a one-second Redis key (one task per second at
most), and within a process by remembering when it last tried (one Redis round trip per second
at most). The second gate is issue 15's: at 100 events per request a Redis ``SET NX`` after
every commit was 4% of the web workers' samples, and it could only ever say "already kicked".
"""

from __future__ import annotations

import logging
import time

from celery import current_app
from django.core.cache import cache

logger = logging.getLogger(__name__)

KICK_KEY = "metering:rollup-kick"
ROLLUP_TASK = "metering.rollup_run"
KICK_INTERVAL_SECONDS = 1.0

# When this process may next ask Redis (time.monotonic()).
_next_try = [0.0]


def rollup_kick() -> None:
    """Ask a worker to roll up soon; at most one request per second across all web processes,
    and at most one Redis round trip per second from this process."""
    now = time.monotonic()
    if now < _next_try[0]:
        return
    _next_try[0] = now + KICK_INTERVAL_SECONDS
    try:
        if cache.add(KICK_KEY, 1, timeout=1):
            # Nobody reads a kick's result: without ignore_result, Celery's Redis backend
            # subscribes to the result channel on every send (a third of the kick's samples).
            current_app.send_task(ROLLUP_TASK, ignore_result=True)
    except Exception:  # the beat schedule is the fallback; never fail an ingest over this
        logger.warning("could not enqueue a rollup run", exc_info=True)
