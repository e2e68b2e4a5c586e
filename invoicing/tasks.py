"""Celery tasks for invoicing: thin wrappers that take ids and call one service.

Task names start with ``invoicing.billing.`` so they route to the ``billing`` queue. Beat
starts ``invoicing.billing.run``, which splits the contracts into chunks billed by parallel
``invoicing.billing.run_contracts`` tasks (all with the same ``now``), so more workers bill
faster. Every piece is safe to run twice or concurrently (see ``services/billing.py``).
"""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from django.utils import timezone

from invoicing.services.billing import CHUNK, billing_candidates, billing_run


@shared_task(name="invoicing.billing.run", time_limit=300, soft_time_limit=240, ignore_result=True)
def billing_run_task() -> int:
    """Fan out: one ``run_contracts`` task per chunk of due contracts; returns the count."""
    now = timezone.now()
    ids = billing_candidates(now=now)
    for offset in range(0, len(ids), CHUNK):
        billing_run_contracts_task.delay(ids[offset : offset + CHUNK], now.isoformat())
    return len(ids)


@shared_task(name="invoicing.billing.run_contracts", time_limit=1800, soft_time_limit=1700)
def billing_run_contracts_task(contract_ids: list[int], now: str) -> dict[str, object]:
    """Draft, refresh and finalize the invoices of these contracts as of ``now``."""
    result = billing_run(now=datetime.fromisoformat(now), contract_ids=contract_ids)
    return {
        "drafted": result.drafted,
        "refreshed": result.refreshed,
        "finalized": result.finalized,
        "failed": result.failed,
    }


@shared_task(
    name="invoicing.entitlements.reservations_expire",
    time_limit=120,
    soft_time_limit=100,
    ignore_result=True,
)
def entitlement_reservations_expire_task() -> int:
    """Return entitlement holds past their expiry to their counters (beat, every 30 s)."""
    from invoicing.entitlements.reservations import reservations_expire

    return reservations_expire()
