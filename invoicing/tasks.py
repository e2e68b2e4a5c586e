"""Celery tasks for invoicing: thin wrappers that take ids and call one service.

Task names start with ``invoicing.billing.`` so they route to the ``billing`` queue. Beat
starts ``invoicing.billing.run``, which records a ``BillingRun`` and splits its contracts into
chunks billed by parallel ``invoicing.billing.run_contracts`` tasks (all with the run's
``as_of``), so more workers bill faster; ``POST /api/v1/billing-runs`` records its run and
starts ``invoicing.billing.run`` with its id. Every piece is safe to run twice or concurrently
(see ``services/billing.py``; a chunk's counts are added to its run once).
"""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from django.utils import timezone

from invoicing.models import BillingRunTrigger
from invoicing.services.billing import billing_run
from invoicing.services.billing_runs import billing_run_chunk, billing_run_create, billing_run_plan


@shared_task(name="invoicing.billing.run", time_limit=300, soft_time_limit=240, ignore_result=True)
def billing_run_task(run_id: int | None = None) -> int:
    """Fan out one ``run_contracts`` task per chunk of the run's due contracts (beat, without
    a run id, records a new run as of now); returns the number of chunks."""
    if run_id is None:
        run_id = billing_run_create(trigger=BillingRunTrigger.BEAT).pk
    chunks = billing_run_plan(run_id=run_id)
    for number, ids in enumerate(chunks):
        billing_run_contracts_task.delay(ids, None, run_id=run_id, chunk=number)
    return len(chunks)


@shared_task(name="invoicing.billing.run_contracts", time_limit=1800, soft_time_limit=1700)
def billing_run_contracts_task(
    contract_ids: list[int], now: str | None, run_id: int | None = None, chunk: int = 0
) -> dict[str, object]:
    """Draft, refresh and finalize the invoices of these contracts, as of the run's ``as_of``
    (or as of ``now`` for a call without a run, as before runs were recorded)."""
    if run_id is not None:
        run = billing_run_chunk(
            run_id=run_id, chunk=chunk, contract_ids=contract_ids, pdfs=_render_pdfs_later
        )
        return {"run": run.pk, "status": run.status}
    assert now is not None, "a chunk without a run needs its now"
    result = billing_run(
        now=datetime.fromisoformat(now), contract_ids=contract_ids, defer_pdfs=True
    )
    _render_pdfs_later(result.finalized_ids)
    return {
        "drafted": result.drafted,
        "refreshed": result.refreshed,
        "finalized": result.finalized,
        "failed": result.failed,
    }


def _render_pdfs_later(invoice_ids: list[int]) -> None:
    """Hand a chunk's finalized invoices to the PDF task (its invoices are committed by now).
    A message lost here loses no PDF: each is rendered when first read."""
    if invoice_ids:
        invoice_pdfs_render_task.delay(invoice_ids)


@shared_task(
    name="invoicing.billing.render_pdfs", time_limit=300, soft_time_limit=240, ignore_result=True
)
def invoice_pdfs_render_task(invoice_ids: list[int]) -> int:
    """Render and store the PDFs of these finalized invoices that have none (safe to run
    twice: a stored PDF is never rendered again)."""
    from invoicing.services.invoice_pdfs import invoice_pdfs_store

    return invoice_pdfs_store(invoice_ids)


@shared_task(
    name="invoicing.collections_advance", time_limit=600, soft_time_limit=540, ignore_result=True
)
def collections_advance_task() -> dict[str, int]:
    """Take every collections step due now (retries, reminders, past due, suspension)."""
    from invoicing.collections.services import collections_advance_all

    return collections_advance_all(now=timezone.now())


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
