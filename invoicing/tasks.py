"""Celery tasks for invoicing: thin wrappers that call one service.

Task names start with ``invoicing.billing.`` so they route to the ``billing`` queue.
"""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from invoicing.services.billing import billing_run


@shared_task(name="invoicing.billing.run", time_limit=3600, soft_time_limit=3300)
def billing_run_task(contract_ids: list[int] | None = None) -> dict[str, object]:
    """Draft, refresh and finalize invoices that are due (safe to run any number of times)."""
    result = billing_run(now=timezone.now(), contract_ids=contract_ids)
    return {"drafted": result.drafted, "refreshed": result.refreshed,
            "finalized": result.finalized, "failed": result.failed}
