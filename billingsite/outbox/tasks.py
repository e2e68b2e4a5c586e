"""The dispatcher task: runs after each commit that enqueued something, and every few seconds
from beat as a safety net (a lost kick or an expired lease is picked up there)."""

from __future__ import annotations

from celery import shared_task

from billingsite.outbox.services import outbox_dispatch


@shared_task(
    name="billingsite.outbox_dispatch", time_limit=600, soft_time_limit=540, ignore_result=True
)
def outbox_dispatch_task() -> dict[str, int]:
    return outbox_dispatch().as_dict()
