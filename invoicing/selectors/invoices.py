"""Reads for invoices and the inputs of ``invoice_compute`` (terms, credits, billed usage)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.db.models import Max, Prefetch, Q, QuerySet, prefetch_related_objects
from django.utils import timezone

from accounts.models import ApiKey, Customer
from billingsite.errors import NotFound
from invoicing.models import Contract, Invoice, InvoiceLine, LineKind, PlanVersion
from invoicing.models.catalog import Cadence
from invoicing.periods import Period, local_date, local_midnight_utc, period_containing
from invoicing.selectors.computation import (
    BilledUsage,
    InvoiceComputation,
    LineDraft,
    invoice_compute,
)
from invoicing.selectors.credits import usable_grant_balances
from invoicing.selectors.terms import ContractTerms
from invoicing.selectors.usage_ladders import ladder_reads, usage_ladders
from invoicing.states import InvoiceStatus
from invoicing.tax.lines import tax_lines
from invoicing.tax.provider import tax_provider
from invoicing.usage import UsageRequest, UsageSource, default_usage
from metering.selectors import late_event_intervals

ISSUED = (
    InvoiceStatus.FINALIZED,
    InvoiceStatus.PAST_DUE,
    InvoiceStatus.PAID,
    InvoiceStatus.UNCOLLECTIBLE,
)
ZERO = Decimal(0)


def contracts_with_terms() -> QuerySet[Contract]:
    """Contracts with everything ``ContractTerms.load`` and the computation read, prefetched."""
    return Contract.objects.select_related("customer", "plan_version__plan").prefetch_related(
        "plan_version__charges", *_terms()
    )


def _terms() -> tuple[str | Prefetch, ...]:
    versions = PlanVersion.objects.select_related("plan").prefetch_related("charges")
    return (
        "overrides",
        "commits",
        "discounts",
        Prefetch("amendments__plan_version", queryset=versions),
    )


def contracts_terms_load(contracts: Collection[Contract]) -> None:
    """Prefetch the terms (overrides, commits, discounts, amendments) of contracts read
    without them (``current_contracts_bare``), as ``contracts_with_terms`` has them."""
    prefetch_related_objects(list(contracts), *_terms())


def contract_period(
    contract: Contract, day: datetime | None = None, *, local_day: date | None = None
) -> Period:
    """The billing period of ``contract`` containing an instant (or a local date)."""
    if local_day is None:
        assert day is not None
        local_day = local_date(day, contract.timezone)
    cadence = Cadence(contract.plan_version.cadence)
    return period_containing(
        local_day,
        origin=contract.start_date,
        anchor_day=contract.billing_anchor_day,
        cadence_months=cadence.months,
        timezone=contract.timezone,
    )


def billed_usage(
    contract: Contract,
    before: Period,
    *,
    exclude_invoice_id: int | None = None,
) -> list[BilledUsage]:
    """Usage billed per charge for the issued periods before ``before`` that late usage may
    have changed, oldest first: every period holding an event metering flagged late (however
    far back; ``closed_through`` makes metering flag events rolled up while their period was
    being finalized too), plus the last ``INVOICING_LATE_USAGE_LOOKBACK_PERIODS`` (default 0)
    periods, re-rated every time: for usage sources that cannot flag late events. Re-rating a
    period whose late usage was already billed yields no line, so the cost is bounded by the
    periods that actually received late events.

    Counts usage lines of the issued (not void) invoices of each period plus adjustment lines
    on other issued invoices that point at them. Periods whose invoices are all void are
    skipped: re-billing them is a re-issue, not an adjustment.
    """
    lookback = getattr(settings, "INVOICING_LATE_USAGE_LOOKBACK_PERIODS", 0)
    issued = (
        Invoice.objects.filter(contract=contract, status__in=ISSUED, period_end__lte=before.start)
        .order_by("-period_end", "pk")
        .values_list("pk", "period_start", "period_end")
    )
    by_period: dict[tuple[datetime, datetime], list[int]] = {}
    for pk, start, end in issued:
        by_period.setdefault((start, end), []).append(pk)
    periods = list(by_period)  # newest first
    older = periods[lookback:]
    late = late_event_intervals(customer=contract.customer, intervals=older)
    chosen = periods[:lookback] + [older[i] for i in sorted(late)]
    if not chosen:
        return []
    owner = {pk: key for key in chosen for pk in by_period[key]}
    lines = InvoiceLine.objects.filter(
        Q(invoice_id__in=owner, kind=LineKind.USAGE)
        | Q(adjusts_invoice_id__in=owner, kind=LineKind.ADJUSTMENT, invoice__status__in=ISSUED)
    )
    if exclude_invoice_id is not None:
        lines = lines.exclude(invoice_id=exclude_invoice_id)
    amounts: dict[tuple[datetime, datetime], dict[str, Decimal]] = {key: {} for key in chosen}
    for invoice_id, adjusts_id, kind, key, amount in lines.values_list(
        "invoice_id", "adjusts_invoice_id", "kind", "charge_key", "amount"
    ):
        period_key = owner[invoice_id if kind == LineKind.USAGE else adjusts_id]
        amounts[period_key][key] = amounts[period_key].get(key, ZERO) + amount
    return [
        BilledUsage(min(by_period[key]), contract_period(contract, key[0]), amounts[key])
        for key in sorted(chosen)
    ]


def compute_for_period(
    contract: Contract,
    period: Period,
    *,
    usage: UsageSource,
    lock_credits: bool = False,
    exclude_invoice_id: int | None = None,
    with_credits: bool = True,
    with_billed: bool = True,
) -> InvoiceComputation:
    """The one entry point that drafts, refreshes, finalizes and previews all go through.

    ``with_credits``/``with_billed`` False skip reading grants / earlier issued invoices when
    the caller knows there are none (the billing run checks a whole chunk at once)."""
    terms = ContractTerms.load(contract)
    grants = (
        usable_grant_balances(contract.customer, contract.currency, period, lock=lock_credits)
        if with_credits
        else []
    )
    billed = (
        billed_usage(contract, period, exclude_invoice_id=exclude_invoice_id) if with_billed else []
    )
    tax = taxes_for(contract.customer, contract.currency, period)
    return invoice_compute(terms, period, usage=usage, grants=grants, billed=billed, tax=tax)


def taxes_for(
    customer: Customer, currency: str, period: Period
) -> Callable[[list[LineDraft]], list[LineDraft]]:
    """The tax lines of the period's invoice, as the tax provider quotes them for its tax
    point (the period's last day)."""
    quote = tax_provider().quote(customer, currency, period.end_date - timedelta(days=1))
    return partial(tax_lines, quote=quote, currency=currency, period=period)


def usage_requests(contract: Contract, periods: Collection[Period]) -> list[UsageRequest]:
    """The usage reads ``compute_for_period`` makes for the charges of ``periods`` (the
    cumulative reads of each usage ladder, ``selectors.usage_ladders.ladder_reads``), for
    ``MeteringUsage.warm``. A request the computation does not make only costs a little of
    the batched read; a read it makes that is not predicted is done on its own, so this never
    changes a result."""
    terms = ContractTerms.load(contract)
    requests = []
    for period in periods:

        def utc(day: date, period: Period = period) -> datetime:
            return local_midnight_utc(day, period.timezone)

        for key in terms.charge_keys():
            for ladder in usage_ladders(terms.charge_segments(period, key)):
                meter_key = ladder[0].charge.meter_key
                requests += [
                    UsageRequest(contract.customer_id, meter_key, start, end, dims)
                    for start, end, dims in ladder_reads(ladder, utc)
                ]
    return requests


def in_effect(contract: Contract, at: datetime) -> bool:
    day = local_date(at, contract.timezone)
    return contract.start_date <= day and (contract.end_date is None or day < contract.end_date)


def current_contract(customer: Customer, at: datetime) -> Contract | None:
    """The customer's contract in effect at ``at`` (the latest started, if several)."""
    candidates = contracts_with_terms().filter(customer=customer).order_by("-start_date", "-pk")
    return next((c for c in candidates if in_effect(c, at)), None)


def current_contracts(customer_ids: Collection[int], at: datetime) -> dict[int, Contract]:
    """``current_contract`` for many customers with one prefetched read: customer id ->
    contract in effect at ``at`` (customers without one are left out)."""
    found: dict[int, Contract] = {}
    candidates = contracts_with_terms().filter(customer_id__in=list(customer_ids))
    for contract in candidates.order_by("customer_id", "-start_date", "-pk"):
        if contract.customer_id not in found and in_effect(contract, at):
            found[contract.customer_id] = contract
    return found


def current_contracts_bare(customers: Mapping[int, Customer], at: datetime) -> dict[int, Contract]:
    """``current_contracts`` without the terms, for a batch that needs them for a few
    contracts only (alert evaluation): the contract rows, with ``customers``' instances as
    their customers and one shared instance per plan version (with its plan and charges), in
    three queries and no queryset per contract. A contract's terms are read when something
    asks for them (``contracts_terms_load`` reads them for many at once)."""
    found: dict[int, Contract] = {}
    candidates = Contract.objects.filter(customer_id__in=list(customers))
    for contract in candidates.order_by("customer_id", "-start_date", "-pk"):
        if contract.customer_id not in found and in_effect(contract, at):
            found[contract.customer_id] = contract
    version_ids = {contract.plan_version_id for contract in found.values()}
    versions = PlanVersion.objects.select_related("plan").in_bulk(list(version_ids))
    prefetch_related_objects(list(versions.values()), "charges")
    for customer_id, contract in found.items():
        contract.customer = customers[customer_id]
        contract.plan_version = versions[contract.plan_version_id]
    return found


def upcoming_invoice(
    customer: Customer, *, at: datetime, usage: UsageSource | None = None
) -> tuple[Contract, InvoiceComputation]:
    usage = usage or default_usage()
    contract = current_contract(customer, at)
    if contract is None:
        raise NotFound(f"Customer {customer.external_id!r} has no contract in effect.")
    period = contract_period(contract, at)
    return contract, compute_for_period(contract, period, usage=usage)


def invoices_visible_to(api_key: ApiKey | None) -> QuerySet[Invoice]:
    qs = Invoice.objects.exclude(status=InvoiceStatus.DRAFT).select_related("customer")
    if api_key is not None and api_key.customer_id is not None:
        qs = qs.filter(customer_id=api_key.customer_id)
    return qs.prefetch_related(Prefetch("lines", InvoiceLine.objects.order_by("position")))


def invoices_for_customer(api_key: ApiKey | None, customer: Customer) -> QuerySet[Invoice]:
    return invoices_visible_to(api_key).filter(customer=customer).order_by("-period_start", "-pk")


def invoice_by_number(api_key: ApiKey | None, number: str) -> Invoice:
    invoice = invoices_visible_to(api_key).filter(number=number).first()
    if invoice is None:
        raise NotFound(f"No invoice numbered {number!r}.")
    return invoice


def closed_through(customer_ids: Collection[int]) -> dict[int, datetime]:
    """For metering's late-event hook: per customer, the end of the latest period that is
    issued or whose draft is due for finalization within ``INVOICING_LATE_FLAG_MARGIN_MINUTES``
    (60) from now.

    Events before that instant that reach the rollups now are "late": invoicing bills them as
    adjustment lines (``billed_usage`` + re-rating) on the customer's next invoice. Counting
    drafts about to be finalized closes the window in which a rollup commits after the
    finalizer read the usage: such an event is flagged, and re-rating bills it once; one the
    finalization did include is re-rated to no difference."""
    margin = timedelta(minutes=int(getattr(settings, "INVOICING_LATE_FLAG_MARGIN_MINUTES", 60)))
    due = Q(status=InvoiceStatus.DRAFT, finalize_after__lte=timezone.now() + margin)
    rows = (
        Invoice.objects.filter(Q(status__in=ISSUED) | due, customer_id__in=list(customer_ids))
        .values("customer_id")
        .annotate(end=Max("period_end"))
    )
    return {row["customer_id"]: row["end"] for row in rows}
