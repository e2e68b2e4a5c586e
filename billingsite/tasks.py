"""Platform tasks: the heartbeat lets /readyz and on-call see that workers and beat are alive;
stored idempotency answers are pruned after their retention."""

import os
import time

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

from billingsite.invariant_runs.tasks import invariants_check_task  # noqa: F401  (registers it)
from billingsite.outbox.tasks import outbox_dispatch_task  # noqa: F401  (registers the task)

HEARTBEAT_KEY = "ops:worker-heartbeat"


@shared_task(name="billingsite.heartbeat", time_limit=30, soft_time_limit=20)
def heartbeat() -> dict[str, int]:
    beat = {"pid": os.getpid(), "at": int(time.time())}
    cache.set(HEARTBEAT_KEY, beat, timeout=600)
    return beat


@shared_task(name="billingsite.idempotency_keys_prune", time_limit=600, soft_time_limit=540)
def idempotency_keys_prune_task() -> int:
    from billingsite.api.idempotency import idempotency_keys_prune

    return idempotency_keys_prune(now=timezone.now())
