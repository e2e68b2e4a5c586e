"""Platform tasks: the heartbeat lets /readyz and on-call see that workers and beat are alive."""

import os
import time

from celery import shared_task
from django.core.cache import cache

from billingsite.invariant_runs.tasks import invariants_check_task  # noqa: F401  (registers it)
from billingsite.outbox.tasks import outbox_dispatch_task  # noqa: F401  (registers the task)

HEARTBEAT_KEY = "ops:worker-heartbeat"


@shared_task(name="billingsite.heartbeat", time_limit=30, soft_time_limit=20)
def heartbeat() -> dict[str, int]:
    beat = {"pid": os.getpid(), "at": int(time.time())}
    cache.set(HEARTBEAT_KEY, beat, timeout=600)
    return beat
