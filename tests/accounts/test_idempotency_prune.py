"""Stored Idempotency-Key answers are kept for API_IDEMPOTENCY_KEY_HOURS, then pruned."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.api.idempotency import idempotency_keys_prune
from accounts.api.idempotency_models import IdempotencyKey
from accounts.services import api_key_create

pytestmark = pytest.mark.django_db


def test_answers_older_than_the_retention_are_deleted_in_batches(settings):
    settings.API_IDEMPOTENCY_KEY_HOURS = 24
    api_key = api_key_create(name="writer", scope="admin").api_key
    now = timezone.now()
    for n, age in enumerate([1, 23, 25, 30, 100, 24 * 7]):
        row = IdempotencyKey.objects.create(
            api_key=api_key, key=f"k{n}", fingerprint="x", status_code=201, body={"n": n}
        )
        IdempotencyKey.objects.filter(pk=row.pk).update(created_at=now - timedelta(hours=age))
    assert idempotency_keys_prune(now=now, batch=2) == 4
    assert sorted(IdempotencyKey.objects.values_list("key", flat=True)) == ["k0", "k1"]
    assert idempotency_keys_prune(now=now) == 0


def test_the_beat_schedule_runs_the_prune_task(settings):
    import billingsite.tasks  # noqa: F401  (what the worker autodiscovers)
    from billingsite.celery import app

    entries = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "billingsite.idempotency_keys_prune" in entries
    assert "billingsite.idempotency_keys_prune" in app.tasks
