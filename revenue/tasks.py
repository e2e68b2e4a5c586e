"""Celery tasks of the revenue app: thin, named, idempotent."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone


@shared_task(name="revenue.post_pending", time_limit=600)
def post_pending() -> int:
    """Post every unposted source and the recognition due up to today (daily, from beat)."""
    from revenue.services.recognition import post_pending as run

    return run(today=timezone.now()).entries
