"""Accounts' API tasks. Imported from AccountsConfig.ready() (Celery autodiscovers only
``<app>.tasks``). The task keeps its first name, which the beat schedule and queued messages use."""

from celery import shared_task
from django.utils import timezone


@shared_task(name="billingsite.idempotency_keys_prune", time_limit=600, soft_time_limit=540)
def idempotency_keys_prune_task() -> int:
    from accounts.api.idempotency import idempotency_keys_prune

    return idempotency_keys_prune(now=timezone.now())
