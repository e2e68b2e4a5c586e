"""Celery tasks for the Stripe integration (names ``invoicing.stripe.*`` -> the stripe queue).
Thin: each takes ids or nothing and calls one service."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone


@shared_task(
    name="invoicing.stripe.webhook_process", time_limit=120, soft_time_limit=100, ignore_result=True
)
def webhook_process_task(event_pk: int) -> str:
    from invoicing.stripe.inbox import webhook_event_process

    return webhook_event_process(event_pk=event_pk)


@shared_task(
    name="invoicing.stripe.webhook_sweep", time_limit=600, soft_time_limit=540, ignore_result=True
)
def webhook_sweep_task() -> int:
    """Process events whose kick was lost and retry recent failures (a few times)."""
    from invoicing.stripe.inbox import webhook_event_process, webhook_pending_ids

    ids = webhook_pending_ids()
    for event_pk in ids:
        webhook_event_process(event_pk=event_pk)
    return len(ids)


@shared_task(
    name="invoicing.stripe.invoices_poll", time_limit=900, soft_time_limit=840, ignore_result=True
)
def invoices_poll_task() -> dict[str, int]:
    """Read open Stripe invoices whose webhook is late and apply what Stripe says."""
    from invoicing.stripe.invoice_push import stripe_invoices_poll

    return stripe_invoices_poll(now=timezone.now())


@shared_task(
    name="invoicing.stripe.reconcile", time_limit=3600, soft_time_limit=3500, ignore_result=True
)
def reconcile_task(
    start: str | None = None, end: str | None = None, trigger: str = "nightly"
) -> int:
    """Nightly: reconcile yesterday (UTC) unless a period is given (ISO datetimes); the admin's
    "run now" sends it with ``trigger="admin"``."""
    from datetime import datetime

    from invoicing.stripe.reconciliation import reconcile

    if start and end:
        period = (datetime.fromisoformat(start), datetime.fromisoformat(end))
    else:
        today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
        period = (today - timedelta(days=1), today)
    return reconcile(start=period[0], end=period[1], trigger=trigger).pk
