"""Billing runs as records: start one, plan its chunks, add each chunk's counts, close it.

The billing itself is ``services.billing.billing_run`` (safe to repeat); this module only keeps
the record of a run. A chunk's counts are added under a row lock on the run, once per chunk
number (a redelivered Celery task finds its number recorded and adds nothing), and the chunk
that completes the count closes the run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from billingsite.errors import AppError
from invoicing.models import BillingRun, BillingRunStatus, Contract
from invoicing.services.billing import CHUNK, BillingRunResult, billing_candidates, billing_run
from invoicing.usage import UsageSource

MAX_ERRORS = 200  # a run that fails everywhere keeps the first ones; ``failed`` counts them all
MAX_CONTRACTS = 10_000
FUTURE_TOLERANCE = timedelta(minutes=5)


def _check_as_of(as_of: datetime, now: datetime) -> None:
    if timezone.is_naive(as_of):
        raise AppError("validation_error", "as_of needs a time zone.", details={"as_of": "naive"})
    if as_of > now + FUTURE_TOLERANCE:
        raise AppError(
            "as_of_in_future",
            "A billing run bills what has ended: as_of cannot be in the future.",
            details={"as_of": as_of.isoformat()},
        )


def _check_contracts(contract_ids: list[int] | None) -> list[int] | None:
    if contract_ids is None:
        return None
    ids = sorted(set(contract_ids))
    if len(ids) > MAX_CONTRACTS:
        raise AppError("validation_error", f"At most {MAX_CONTRACTS} contracts per run.")
    known = set(Contract.objects.filter(pk__in=ids).values_list("pk", flat=True))
    unknown = [pk for pk in ids if pk not in known]
    if unknown:
        raise AppError(
            "unknown_contracts", "No such contracts.", details={"contracts": unknown[:50]}
        )
    return ids


@transaction.atomic
def billing_run_create(
    *,
    trigger: str,
    as_of: datetime | None = None,
    contract_ids: list[int] | None = None,
    actor: User | None = None,
) -> BillingRun:
    """Record a queued run (``as_of`` defaults to now and may not lie in the future)."""
    now = timezone.now()
    as_of = as_of or now
    _check_as_of(as_of, now)
    return BillingRun.objects.create(
        trigger=trigger,
        as_of=as_of,
        contract_ids=_check_contracts(contract_ids),
        created_by=actor,
    )


@transaction.atomic
def billing_run_plan(*, run_id: int) -> list[list[int]]:
    """Start the run: the due contracts in chunks (none: the run is finished at once).

    Only a queued run is planned: a redelivered fan-out task finds it started and sends no
    chunk twice (its chunks were sent, or are being billed, by the first delivery)."""
    run = BillingRun.objects.select_for_update().get(pk=run_id)
    if run.status != BillingRunStatus.QUEUED:
        return []
    ids = billing_candidates(now=run.as_of, contract_ids=run.contract_ids)
    chunks = [ids[offset : offset + CHUNK] for offset in range(0, len(ids), CHUNK)]
    now = timezone.now()
    run.started_at = run.started_at or now
    run.contracts_total = len(ids)
    run.chunks_total = len(chunks)
    run.status = BillingRunStatus.RUNNING
    if not chunks:
        run.status, run.finished_at = BillingRunStatus.FINISHED, now
    run.save()
    return chunks


@transaction.atomic
def billing_run_record(
    *, run_id: int, chunk: int, contracts: int, result: BillingRunResult
) -> BillingRun:
    """Add one chunk's counts to the run, once per chunk number; close it after the last."""
    run = BillingRun.objects.select_for_update().get(pk=run_id)
    if chunk in run.chunks_recorded:
        return run
    run.chunks_recorded = [*run.chunks_recorded, chunk]
    run.chunks_done += 1
    run.contracts_done += contracts
    run.drafted += result.drafted
    run.refreshed += result.refreshed
    run.finalized += result.finalized
    run.failed += len(result.failed)
    run.errors = (run.errors + result.errors)[:MAX_ERRORS]
    if run.chunks_done >= run.chunks_total:
        run.finished_at = timezone.now()
        run.status = (
            BillingRunStatus.FINISHED_WITH_ERRORS if run.failed else BillingRunStatus.FINISHED
        )
    run.save()
    return run


def billing_run_chunk(
    *,
    run_id: int,
    chunk: int,
    contract_ids: list[int],
    usage: UsageSource | None = None,
    progress: Callable[[int], None] | None = None,
    pdfs: Callable[[list[int]], object] | None = None,
) -> BillingRun:
    """Bill one chunk of a run as of the run's ``as_of`` and record what it did. ``pdfs``, if
    given, is handed the ids of the invoices it finalized, to render their PDFs elsewhere
    (else they are rendered here, after the chunk)."""
    as_of = BillingRun.objects.values_list("as_of", flat=True).get(pk=run_id)
    result = billing_run(
        now=as_of,
        usage=usage,
        contract_ids=contract_ids,
        progress=progress,
        defer_pdfs=pdfs is not None,
    )
    if pdfs is not None and result.finalized_ids:
        pdfs(result.finalized_ids)
    return billing_run_record(
        run_id=run_id, chunk=chunk, contracts=len(contract_ids), result=result
    )


def billing_run_execute(
    *,
    run_id: int,
    usage: UsageSource | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BillingRun:
    """Bill a whole run in this process, chunk after chunk (``manage.py billing_run``).
    ``progress(done, total)`` is called after each contract."""
    chunks = billing_run_plan(run_id=run_id)
    total = sum(len(chunk) for chunk in chunks)
    before = 0
    run = BillingRun.objects.get(pk=run_id)
    for number, ids in enumerate(chunks):

        def step(done: int, offset: int = before) -> None:
            if progress is not None:
                progress(offset + done, total)

        run = billing_run_chunk(
            run_id=run_id, chunk=number, contract_ids=ids, usage=usage, progress=step
        )
        before += len(ids)
    return run
