"""Celery tasks for metering: short, named, time-limited; each calls one service."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="metering.rollup_run", time_limit=120, soft_time_limit=100)
def rollup_run_task(max_rounds: int = 20) -> int:
    """Apply queued events to rollups until the queue is empty or ``max_rounds`` batches ran."""
    from metering.services import rollup_drain

    return rollup_drain(max_rounds=max_rounds)


@shared_task(name="metering.events_attribute_sweep", time_limit=300, soft_time_limit=240)
def events_attribute_sweep() -> int:
    from metering.services import events_attribute

    return events_attribute()


@shared_task(name="metering.events_partitions_maintain", time_limit=1800, soft_time_limit=1700)
def events_partitions_maintain() -> dict[str, int]:
    """Nightly: create the next months' partitions (and empty DEFAULT), prune expired keys."""
    from metering.partitions import ensure_partitions, prune_keys

    created = ensure_partitions()
    pruned = prune_keys()
    if created or pruned:
        logger.info("events partitions: created %s, pruned %d dedup keys", created, pruned)
    return {"created": len(created), "pruned_keys": pruned}
