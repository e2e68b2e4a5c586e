"""The billing run: draft, refresh and finalize every contract's invoices.

Safe to run any number of times, concurrently, or after a crash midway: each contract is
handled in its own transactions, drafts come from a unique-constrained insert, refresh and
finalize lock the invoice row (skipping rows another run holds) and do nothing to a
non-draft, so every contract and period ends up with exactly one invoice (invariant 4).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta

from django.db.models import Q

from invoicing.metrics import BILLING_RUN_SECONDS
from invoicing.models import Contract, Invoice, InvoiceKind
from invoicing.models.catalog import Cadence
from invoicing.periods import Period, period_after
from invoicing.selectors.invoices import contract_period, contracts_with_terms
from invoicing.services.credits import credit_expire
from invoicing.services.invoices import invoice_draft_create, invoice_finalize, invoice_refresh
from invoicing.states import InvoiceStatus
from invoicing.usage import MeteringUsage, UsageSource

logger = logging.getLogger(__name__)
MAX_PERIODS_PER_RUN = 120  # a contract more than 10 years behind is a data problem, not a run
ENDED_CONTRACT_DAYS = 400


@dataclasses.dataclass
class BillingRunResult:
    drafted: int = 0
    refreshed: int = 0
    finalized: int = 0
    failed: list[int] = dataclasses.field(default_factory=list)


def billing_run(*, now: datetime, usage: UsageSource | None = None,
                contract_ids: list[int] | None = None) -> BillingRunResult:
    """Bill every contract with a period ended by ``now`` or an open draft."""
    with BILLING_RUN_SECONDS.time():
        return _billing_run(now=now, usage=usage or MeteringUsage(), contract_ids=contract_ids)


def _billing_run(*, now: datetime, usage: UsageSource,
                 contract_ids: list[int] | None) -> BillingRunResult:
    result = BillingRunResult()
    # Expired grants first: a grant pays invoices finalized before it expires, and a draft
    # never previews a credit that its finalization could not draw.
    credit_expire(now=now)
    contracts = contracts_with_terms().order_by("pk")
    if contract_ids is not None:
        contracts = contracts.filter(pk__in=contract_ids)
    # Ended contracts drop out once their last period is long billed (or has an open draft).
    recent = now.date() - timedelta(days=ENDED_CONTRACT_DAYS)
    contracts = contracts.filter(Q(end_date__isnull=True) | Q(end_date__gt=recent)
                                 | Q(invoices__status=InvoiceStatus.DRAFT)).distinct()
    for contract in contracts.iterator(chunk_size=500):
        try:
            billing_run_contract(contract=contract, now=now, usage=usage, result=result)
        except Exception:
            logger.exception("billing run failed for contract %s", contract.pk)
            result.failed.append(contract.pk)
    return result


def billing_run_contract(*, contract: Contract, now: datetime, usage: UsageSource,
                         result: BillingRunResult) -> None:
    created: set[int] = set()
    for period in unbilled_periods(contract, now):
        invoice = invoice_draft_create(contract=contract, period=period, usage=usage, now=now)
        if invoice is not None:
            created.add(invoice.pk)
    result.drafted += len(created)
    drafts = Invoice.objects.filter(contract=contract, status=InvoiceStatus.DRAFT).order_by(
        "period_start", "pk").values_list("pk", "finalize_after")
    drew_credits = False
    for invoice_id, finalize_after in drafts:
        if finalize_after <= now:
            finalized = invoice_finalize(invoice_id=invoice_id, usage=usage, now=now,
                                         contract=contract)
            result.finalized += int(finalized is not None)
            drew_credits = drew_credits or finalized is not None
        # A draft created above is current, unless an earlier period just drew credits it
        # had counted on.
        elif invoice_id not in created or drew_credits:
            result.refreshed += int(invoice_refresh(invoice_id=invoice_id, usage=usage, now=now,
                                                    contract=contract))


def unbilled_periods(contract: Contract, now: datetime) -> list[Period]:
    """Periods after the last billing-run invoice that have ended by ``now`` (oldest first)."""
    last_end = (Invoice.objects.filter(contract=contract, kind=InvoiceKind.PERIOD,
                                       replaces__isnull=True)
                .order_by("-period_end").values_list("period_end", flat=True).first())
    if last_end is None:
        period = contract_period(contract, local_day=contract.start_date)
    else:
        period = _following(contract, contract_period(contract, last_end - timedelta(seconds=1)))
    periods: list[Period] = []
    while len(periods) < MAX_PERIODS_PER_RUN and period.end <= now and (
            contract.end_date is None or period.start_date < contract.end_date):
        periods.append(period)
        period = _following(contract, period)
    return periods


def _following(contract: Contract, period: Period) -> Period:
    return period_after(period, origin=contract.start_date,
                        anchor_day=contract.billing_anchor_day,
                        cadence_months=Cadence(contract.plan_version.cadence).months)
