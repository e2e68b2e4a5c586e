"""The billing run: draft, refresh and finalize every contract's invoices.

Safe to run any number of times, concurrently, or after a crash midway: each contract is
handled in its own transactions, drafts come from a unique-constrained insert, refresh and
finalize lock the invoice row (skipping rows another run holds) and do nothing to a
non-draft, so every contract and period ends up with exactly one invoice (invariant 4).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db.models import Q

from billingsite.outbox.services import kicks_coalesced
from invoicing.metrics import BILLING_RUN_SECONDS
from invoicing.models import Contract
from invoicing.models.catalog import Cadence
from invoicing.periods import Period, period_after
from invoicing.selectors.billing_states import ContractState, contract_states
from invoicing.selectors.invoices import (
    contract_period,
    contracts_with_terms,
    usage_requests,
)
from invoicing.services.billing_drafts import (
    PreparedDraft,
    draft_prepare,
    draft_write,
    drafts_write,
)
from invoicing.services.billing_finalize import DueDraft, FinalizeQueue
from invoicing.services.credits import credit_expire
from invoicing.services.invoices import invoice_finalize, invoice_refresh
from invoicing.states import InvoiceStatus
from invoicing.usage import UsageSource, default_usage

logger = logging.getLogger(__name__)
MAX_PERIODS_PER_RUN = 120  # a contract more than 10 years behind is a data problem, not a run
ENDED_CONTRACT_DAYS = 400
CHUNK = 500


@dataclasses.dataclass
class BillingRunResult:
    drafted: int = 0
    refreshed: int = 0
    finalized: int = 0
    finalized_ids: list[int] = dataclasses.field(default_factory=list)
    failed: list[int] = dataclasses.field(default_factory=list)
    errors: list[dict[str, object]] = dataclasses.field(default_factory=list)


def billing_run(
    *,
    now: datetime,
    usage: UsageSource | None = None,
    contract_ids: list[int] | None = None,
    progress: Callable[[int], None] | None = None,
    defer_pdfs: bool = False,
) -> BillingRunResult:
    """Bill every contract with a period ended by ``now`` or an open draft. ``progress`` is
    called with the number of contracts handled so far, after each one.

    The PDFs of the invoices it finalizes are rendered after each chunk, outside the
    finalizing transactions; with ``defer_pdfs`` they are left to the caller
    (``result.finalized_ids``; the Celery chunk hands them to the PDF task)."""
    with BILLING_RUN_SECONDS.time():
        return _billing_run(
            now=now,
            usage=usage or default_usage(),
            contract_ids=contract_ids,
            progress=progress,
            defer_pdfs=defer_pdfs,
        )


def _billing_run(
    *,
    now: datetime,
    usage: UsageSource,
    contract_ids: list[int] | None,
    progress: Callable[[int], None] | None,
    defer_pdfs: bool,
) -> BillingRunResult:
    result = BillingRunResult()
    # Post the expiry of grants expired by now. It does not decide which invoices a grant pays
    # (the period's end does: ``selectors.credits.credits_as_of``): an invoice of a period
    # that ended before the expiry still draws what expired (``services.credits.credit_draw``).
    credit_expire(now=now)
    ids = billing_candidates(now=now, contract_ids=contract_ids)
    done = 0
    for offset in range(0, len(ids), CHUNK):
        chunk = ids[offset : offset + CHUNK]
        states = contract_states(chunk)
        contracts = list(contracts_with_terms().filter(pk__in=chunk).order_by("pk"))
        _warm_usage(usage, contracts, states, now)
        finalized_before = len(result.finalized_ids)
        # One outbox kick per chunk: each finalized invoice commits its Stripe outbox row.
        with kicks_coalesced():
            done = _bill_chunk(contracts, states, now, usage, result, progress, done)
        if not defer_pdfs:
            _render_pdfs(result.finalized_ids[finalized_before:])
    return result


def _bill_chunk(
    contracts: list[Contract],
    states: dict[int, ContractState],
    now: datetime,
    usage: UsageSource,
    result: BillingRunResult,
    progress: Callable[[int], None] | None,
    done: int,
) -> int:
    """Compute every new draft of the chunk, write them together (one by one if that fails),
    then refresh and finalize contract by contract, except that contracts whose one draft is
    due are finalized a batch at a time (one by one if the batch fails). A contract that
    fails is reported and the others go on. Returns ``done`` plus the chunk's contracts."""
    prepared: dict[int, list[PreparedDraft]] = {}
    for contract in contracts:
        state = states[contract.pk]
        try:
            prepared[contract.pk] = [
                draft_prepare(
                    contract=contract,
                    period=period,
                    usage=usage,
                    now=now,
                    with_credits=state.has_grants,
                    with_billed=state.has_issued,
                )
                for period in unbilled_periods(contract, now, last_end=state.last_end)
            ]
        except Exception as exc:
            _failed(result, contract, exc)
    written = drafts_write([draft for drafts in prepared.values() for draft in drafts])
    queue = FinalizeQueue(now=now, usage=usage)
    reported = done
    for contract in contracts:
        if contract.pk in prepared:
            try:
                state = states[contract.pk]
                drafts, created = _contract_drafts(
                    contract, usage, now, result, state, prepared[contract.pk], written
                )
                if queue.size > 1 and len(drafts) == 1 and drafts[0][2] <= now:
                    due = DueDraft(drafts[0][1], contract, state.has_grants, state.has_issued)
                    queue.add(
                        due, partial(_finish_alone, contract, drafts, state, usage, now, result)
                    )
                else:  # numbered after the queued ones, as one by one
                    _queue_flush(queue, result)
                    _contract_finish(contract, drafts, created, usage, now, result, state)
            except Exception as exc:
                _failed(result, contract, exc)
        done += 1
        if queue.full:
            _queue_flush(queue, result)
        if progress is not None and not queue.pending and reported < done:
            reported = done
            progress(done)  # a queued contract counts once its batch is done
    _queue_flush(queue, result)
    if progress is not None and reported < done:
        progress(done)
    return done


def _queue_flush(queue: FinalizeQueue, result: BillingRunResult) -> None:
    for invoice in queue.flush():
        result.finalized += 1
        result.finalized_ids.append(invoice.pk)


def _finish_alone(
    contract: Contract,
    drafts: list[Draft],
    state: ContractState,
    usage: UsageSource,
    now: datetime,
    result: BillingRunResult,
) -> None:
    """A queued contract whose batch failed: finalized on its own, as before (its draft was
    written by an earlier run or in this one: either way due and the only one)."""
    try:
        _contract_finish(contract, drafts, set(), usage, now, result, state)
    except Exception as exc:
        _failed(result, contract, exc)


def _failed(result: BillingRunResult, contract: Contract, exc: Exception) -> None:
    logger.exception("billing run failed for contract %s", contract.pk)
    result.failed.append(contract.pk)
    result.errors.append({"contract": contract.pk, "error": _describe(exc)})


def _render_pdfs(invoice_ids: list[int]) -> None:
    """Store the PDFs of the chunk's finalized invoices. A failure loses nothing: the PDF is
    rendered when first read (``invoice_pdf_content``)."""
    from invoicing.services.invoice_pdfs import invoice_pdfs_store

    try:
        invoice_pdfs_store(invoice_ids)
    except Exception:
        logger.exception("could not render the PDFs of %d invoices", len(invoice_ids))


def _describe(exc: Exception) -> str:
    """What a run record says about a failed contract: the error's type and message, short."""
    message = getattr(exc, "message", None) or str(exc)
    return f"{type(exc).__name__}: {message}"[:500]


def _warm_usage(
    usage: UsageSource, contracts: list[Contract], states: dict[int, ContractState], now: datetime
) -> None:
    """Read the chunk's usage for the periods it drafts, refreshes or finalizes with one query
    per meter and period instead of one per contract and charge. Only a speed-up: a reading
    that is not warmed (or a failure here) is read contract by contract as before."""
    warm = getattr(usage, "warm", None)
    if warm is None:
        return
    try:
        requests = []
        for contract in contracts:
            state = states[contract.pk]
            periods = unbilled_periods(contract, now, last_end=state.last_end)
            periods += [contract_period(contract, start) for start, _pk, _at in state.drafts]
            if state.has_issued:  # late usage: the issued periods before are re-rated too
                periods += _recent_periods(contract, periods)
            requests += usage_requests(contract, sorted(set(periods)))
        warm(requests)
    except Exception:
        logger.exception("could not read the chunk's usage ahead; reading per contract")


def _recent_periods(contract: Contract, periods: list[Period]) -> list[Period]:
    """The ``INVOICING_LATE_USAGE_LOOKBACK_PERIODS`` periods before each of ``periods``
    (those ``billed_usage`` always re-rates), from the contract's start on."""
    lookback = getattr(settings, "INVOICING_LATE_USAGE_LOOKBACK_PERIODS", 0)
    found = []
    for period in periods:
        for _ in range(lookback):
            if period.start_date <= contract.start_date:
                break
            period = contract_period(contract, period.start - timedelta(seconds=1))
            found.append(period)
    return found


def billing_candidates(*, now: datetime, contract_ids: list[int] | None = None) -> list[int]:
    """Contracts the run looks at, in id order. Ended contracts drop out once their last
    period is long billed (unless a draft is still open)."""
    contracts = Contract.objects.order_by("pk")
    if contract_ids is not None:
        contracts = contracts.filter(pk__in=contract_ids)
    recent = now.date() - timedelta(days=ENDED_CONTRACT_DAYS)
    return list(
        contracts.filter(
            Q(end_date__isnull=True)
            | Q(end_date__gt=recent)
            | Q(invoices__status=InvoiceStatus.DRAFT)
        )
        .distinct()
        .values_list("pk", flat=True)
    )


Draft = tuple[datetime, int, datetime]  # (period start, invoice id, finalize after)


def billing_run_contract(
    *,
    contract: Contract,
    now: datetime,
    usage: UsageSource,
    result: BillingRunResult,
    state: ContractState | None = None,
    prepared: list[PreparedDraft] | None = None,
    written: bool = False,
) -> None:
    """Draft the contract's ended periods, then refresh or finalize its drafts. The run
    passes the drafts it ``prepared`` for the chunk, ``written`` if ``drafts_write`` wrote
    them (else each is written here, on its own)."""
    state = state or contract_states([contract.pk])[contract.pk]
    drafts, created = _contract_drafts(contract, usage, now, result, state, prepared, written)
    _contract_finish(contract, drafts, created, usage, now, result, state)


def _contract_drafts(
    contract: Contract,
    usage: UsageSource,
    now: datetime,
    result: BillingRunResult,
    state: ContractState,
    prepared: list[PreparedDraft] | None,
    written: bool,
) -> tuple[list[Draft], set[int]]:
    """The contract's drafts, oldest first, after writing the new ones (unless ``written``),
    and the ids of those it created."""
    if prepared is None:
        prepared = [
            draft_prepare(
                contract=contract,
                period=period,
                usage=usage,
                now=now,
                with_credits=state.has_grants,
                with_billed=state.has_issued,
            )
            for period in unbilled_periods(contract, now, last_end=state.last_end)
        ]
    created: set[int] = set()
    drafts = list(state.drafts)
    for draft in prepared:
        invoice = draft.invoice if written else draft_write(draft)
        if invoice is not None:
            created.add(invoice.pk)
            drafts.append((invoice.period_start, invoice.pk, invoice.finalize_after))
    result.drafted += len(created)
    return sorted(drafts), created


def _contract_finish(
    contract: Contract,
    drafts: list[Draft],
    created: set[int],
    usage: UsageSource,
    now: datetime,
    result: BillingRunResult,
    state: ContractState,
) -> None:
    """Finalize the contract's due drafts and refresh the others, one by one, oldest first."""
    drew_credits = False
    for _start, invoice_id, finalize_after in drafts:
        if finalize_after <= now:
            # What the chunk read says the customer lacks is not read again: a grant or an
            # issued invoice appearing since (seconds ago) counts as arriving just after.
            finalized = invoice_finalize(
                invoice_id=invoice_id,
                usage=usage,
                now=now,
                contract=contract,
                with_credits=state.has_grants,
                with_billed=state.has_issued or drew_credits,
            )
            if finalized is not None:
                result.finalized += 1
                result.finalized_ids.append(finalized.pk)
            drew_credits = drew_credits or finalized is not None
        # A draft created above is current, unless an earlier period just drew credits or
        # became the issued invoice its adjustments compare with.
        elif invoice_id not in created or drew_credits:
            result.refreshed += int(
                invoice_refresh(invoice_id=invoice_id, usage=usage, now=now, contract=contract)
            )


def unbilled_periods(
    contract: Contract, now: datetime, *, last_end: datetime | None
) -> list[Period]:
    """Periods after ``last_end`` (the last billing-run invoice's) that have ended by ``now``,
    oldest first."""
    if last_end is None:
        period = contract_period(contract, local_day=contract.start_date)
    else:
        period = _following(contract, contract_period(contract, last_end - timedelta(seconds=1)))
    periods: list[Period] = []
    while (
        len(periods) < MAX_PERIODS_PER_RUN
        and period.end <= now
        and (contract.end_date is None or period.start_date < contract.end_date)
    ):
        periods.append(period)
        period = _following(contract, period)
    return periods


def _following(contract: Contract, period: Period) -> Period:
    return period_after(
        period,
        origin=contract.start_date,
        anchor_day=contract.billing_anchor_day,
        cadence_months=Cadence(contract.plan_version.cadence).months,
    )
