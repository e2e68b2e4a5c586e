"""Reads behind the usage pages, all scoped to one customer.

Nothing here prices anything itself: the current period is ``compute_for_period`` (the same
function drafts, finalization and the upcoming-invoice API use) over ``MeteringUsage`` (the
same usage selector), and the forecast is that same computation over ``ProjectedUsage``, which
scales the period's usage so far linearly to the period's end (only for additive
aggregations: count, sum, time-weighted sum; max/latest/unique counts are shown as they are).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import QuerySet

from accounts.models import Customer
from billingsite.errors import AppError, NotFound
from billingsite.money import amount_of, exact_context, sum_lines
from invoicing.models import (
    Charge,
    ChargeKind,
    CommitKind,
    Contract,
    CreditEntry,
    Invoice,
    LineKind,
)
from invoicing.periods import Period
from invoicing.selectors.computation import CHARGE_KINDS, InvoiceComputation, LineDraft
from invoicing.selectors.credits import grants_with_balance
from invoicing.selectors.invoices import (
    compute_for_period,
    contract_period,
    current_contract,
    invoices_for_customer,
)
from invoicing.usage import UsageReading
from invoicing.usage_pages.tolerant import TolerantUsage
from metering.models import Aggregation, Meter
from metering.selectors import UsageSeries, usage_series

ZERO = Decimal(0)
PROJECTABLE = {Aggregation.COUNT, Aggregation.SUM, Aggregation.TIME_WEIGHTED_SUM}
PROJECTION_PLACES = Decimal("0.000001")
MIN_ELAPSED = timedelta(hours=1)  # before this, a projection is noise: forecast = so far
MAX_RANGE_DAYS = 400


def aggregation_of(meter: Meter) -> str:
    versions = sorted(meter.versions.all(), key=lambda v: v.effective_from)
    return versions[-1].aggregation if versions else Aggregation.COUNT


def dimensions_of(meter: Meter) -> list[str]:
    dims: list[str] = []
    for version in sorted(meter.versions.all(), key=lambda v: v.effective_from):
        dims += [d for d in (version.group_by or []) if d not in dims]
    return dims


def projection_factor(period: Period, at: datetime) -> Decimal:
    """period length / time elapsed so far (1 before ``MIN_ELAPSED`` or after the end)."""
    elapsed = min(at, period.end) - period.start
    if elapsed < MIN_ELAPSED:
        return Decimal(1)
    with exact_context():
        return Decimal((period.end - period.start).total_seconds()) / Decimal(
            elapsed.total_seconds()
        )


class ProjectedUsage:
    """A usage source: ``MeteringUsage`` for earlier periods, the current period's usage so
    far times ``factor`` for intervals inside ``period`` (additive meters only)."""

    def __init__(self, source: TolerantUsage, period: Period, factor: Decimal) -> None:
        self.source, self.period, self.factor = source, period, factor

    def _scale(self, value: Decimal) -> Decimal:
        with exact_context():
            return (value * self.factor).quantize(PROJECTION_PLACES, rounding=ROUND_HALF_UP)

    def __call__(
        self,
        *,
        customer: Customer,
        meter_key: str,
        start: datetime,
        end: datetime,
        group_by: Sequence[str] | None = None,
    ) -> UsageReading:
        reading = self.source(
            customer=customer, meter_key=meter_key, start=start, end=end, group_by=group_by
        )
        meter = self.source.meter_or_none(meter_key)
        if (
            start < self.period.start
            or self.factor == 1
            or meter is None
            or aggregation_of(meter) not in PROJECTABLE
        ):
            return reading
        groups = tuple((g, self._scale(v)) for g, v in reading.groups)
        return UsageReading(total=self._scale(reading.total), groups=groups)


@dataclass(frozen=True)
class ChargeUsage:
    charge_key: str
    name: str
    meter: Meter | None
    quantity: Decimal
    cost: Decimal
    forecast_quantity: Decimal
    forecast_cost: Decimal
    meter_missing: bool = False  # billed meter no longer exists: no usage to show


@dataclass(frozen=True)
class GrantBurn:
    grant: Any  # CreditGrant annotated with ``balance``
    pending_draw: Decimal  # drawn by the upcoming invoice as computed now
    history: list[tuple[datetime, Decimal]]  # balance after each ledger entry

    @property
    def balance_after(self) -> Decimal:
        return self.grant.balance - self.pending_draw


@dataclass(frozen=True)
class CommitStatus:
    commit: Any
    spend: Decimal
    forecast_spend: Decimal
    grant: GrantBurn | None = None


@dataclass
class UsageOverview:
    customer: Customer
    contract: Contract
    period: Period
    at: datetime
    computation: InvoiceComputation
    forecast: InvoiceComputation
    charges: list[ChargeUsage]
    series: list[tuple[Meter, UsageSeries]] = field(default_factory=list)
    grants: list[GrantBurn] = field(default_factory=list)
    commits: list[CommitStatus] = field(default_factory=list)
    missing_meters: list[str] = field(default_factory=list)  # billed, but no longer exist

    @property
    def currency(self) -> str:
        return self.computation.currency

    @property
    def cost_so_far(self) -> Decimal:
        return spend_of(self.computation.lines, self.currency)

    @property
    def forecast_cost(self) -> Decimal:
        return spend_of(self.forecast.lines, self.currency)


def spend_of(lines: Sequence[LineDraft], currency: str) -> Decimal:
    """Charges (fixed, usage, adjustments, true-ups) before discounts and credits."""
    return sum_lines((ln.amount for ln in lines if ln.kind in CHARGE_KINDS), currency)


def usage_overview(customer: Customer, *, at: datetime) -> UsageOverview | None:
    """The current period of the contract in effect at ``at``; None without a contract."""
    contract = current_contract(customer, at)
    if contract is None:
        return None
    period = contract_period(contract, at)
    usage = TolerantUsage()
    computation = compute_for_period(contract, period, usage=usage)
    projected = ProjectedUsage(usage, period, projection_factor(period, at))
    forecast = compute_for_period(contract, period, usage=projected)
    charges = _charges(contract, computation, forecast, usage)
    overview = UsageOverview(customer, contract, period, at, computation, forecast, charges)
    overview.missing_meters = list(usage.missing)
    overview.series = _daily_series(customer, period, at, charges)
    overview.grants = _grant_burns(customer, computation, at)
    overview.commits = _commits(contract, period, overview)
    return overview


def _charge_names(contract: Contract) -> dict[str, str]:
    names = {c.key: c.name for c in contract.plan_version.charges.all()}
    for amendment in contract.amendments.all():
        if amendment.plan_version is not None:
            names.update({c.key: c.name for c in amendment.plan_version.charges.all()})
    return names


def _charges(
    contract: Contract, now: InvoiceComputation, forecast: InvoiceComputation, usage: TolerantUsage
) -> list[ChargeUsage]:
    names = _charge_names(contract)
    currency = now.currency

    def usage_lines(comp: InvoiceComputation, key: str) -> list[LineDraft]:
        return [ln for ln in comp.lines if ln.kind == LineKind.USAGE and ln.charge_key == key]

    keys = list(dict.fromkeys(ln.charge_key for ln in now.lines if ln.kind == LineKind.USAGE))
    result = []
    for key in keys:
        lines, ahead = usage_lines(now, key), usage_lines(forecast, key)
        meter_key = lines[0].meter_key
        meter = usage.meter_or_none(meter_key) if meter_key else None
        result.append(
            ChargeUsage(
                charge_key=key,
                name=names.get(key, lines[0].description),
                meter=meter,
                quantity=sum((ln.quantity or ZERO for ln in lines), ZERO),
                cost=sum_lines((ln.amount for ln in lines), currency),
                forecast_quantity=sum((ln.quantity or ZERO for ln in ahead), ZERO),
                forecast_cost=sum_lines((ln.amount for ln in ahead), currency),
                meter_missing=bool(meter_key) and meter is None,
            )
        )
    return result


def _next_local_midnight(at: datetime, tz: str) -> datetime:
    local = at.astimezone(ZoneInfo(tz)).date() + timedelta(days=1)
    return datetime(local.year, local.month, local.day, tzinfo=ZoneInfo(tz))


def _daily_series(
    customer: Customer, period: Period, at: datetime, charges: list[ChargeUsage]
) -> list[tuple[Meter, UsageSeries]]:
    end = min(period.end, _next_local_midnight(at, customer.timezone))
    if end <= period.start:
        return []
    meters = list({c.meter.key: c.meter for c in charges if c.meter is not None}.values())
    return [
        (
            m,
            usage_series(
                customer=customer,
                meter=m,
                start=period.start,
                end=end,
                window="day",
                tz=customer.timezone,
            ),
        )
        for m in meters
    ]


def _grant_burns(
    customer: Customer, computation: InvoiceComputation, at: datetime
) -> list[GrantBurn]:
    pending: dict[int, Decimal] = {}
    for line in computation.lines:
        if line.kind == LineKind.CREDIT and line.credit_grant_id is not None:
            pending[line.credit_grant_id] = pending.get(line.credit_grant_id, ZERO) - line.amount
    grants = list(
        grants_with_balance(customer)
        .filter(currency=computation.currency)
        .order_by("expires_at", "priority", "pk")
    )
    entries: dict[int, list[CreditEntry]] = {}
    for entry in CreditEntry.objects.filter(grant__in=grants).order_by("created_at", "pk"):
        entries.setdefault(entry.grant_id, []).append(entry)
    result = []
    for grant in grants:
        balance: Decimal = grant.balance  # type: ignore[attr-defined]  # annotated
        if grant.expires_at is not None and grant.expires_at <= at and balance <= 0:
            continue
        running, history = ZERO, []
        for entry in entries.get(grant.pk, []):
            running += amount_of(entry.amount)
            history.append((entry.created_at, running))
        result.append(GrantBurn(grant, pending.get(grant.pk, ZERO), history))
    return result


def _commits(contract: Contract, period: Period, overview: UsageOverview) -> list[CommitStatus]:
    burns = {burn.grant.commit_id: burn for burn in overview.grants if burn.grant.commit_id}
    result = []
    for commit in contract.commits.all():
        if not period.overlap_days(commit.effective_from, commit.effective_to) and not (
            commit.kind == CommitKind.PREPAID and commit.pk in burns
        ):
            continue
        result.append(
            CommitStatus(commit, overview.cost_so_far, overview.forecast_cost, burns.get(commit.pk))
        )
    return result


# --- meters -----------------------------------------------------------------------------


def meters_for(customer: Customer) -> QuerySet[Meter]:
    """Meters billed by any of the customer's contracts (plan versions and amendments)."""
    contracts = Contract.objects.filter(customer=customer)
    versions = set(contracts.values_list("plan_version_id", flat=True))
    versions |= set(
        contracts.filter(amendments__plan_version__isnull=False).values_list(
            "amendments__plan_version_id", flat=True
        )
    )
    keys = Charge.objects.filter(plan_version_id__in=versions, kind=ChargeKind.USAGE).values_list(
        "meter_key", flat=True
    )
    return Meter.objects.filter(key__in=set(keys)).prefetch_related("versions").order_by("key")


def meter_for(customer: Customer, key: str) -> Meter:
    meter = meters_for(customer).filter(key=key).first()
    if meter is None:
        raise NotFound(f"No meter {key!r} on your plan.")
    return meter


@dataclass(frozen=True)
class MeterRange:
    start_day: date  # first local day shown
    end_day: date  # last local day shown (inclusive)
    window: str  # "day" or "hour"
    group: str  # a dimension of the meter, or ""


def meter_usage(customer: Customer, meter: Meter, selection: MeterRange) -> UsageSeries:
    """Usage per window over the chosen local days, grouped by one dimension if asked."""
    if selection.end_day < selection.start_day:
        raise AppError(
            "validation_error",
            "The end date is before the start date.",
            details={"end": "Pick a day on or after the start."},
        )
    if (selection.end_day - selection.start_day).days >= MAX_RANGE_DAYS:
        raise AppError(
            "validation_error",
            f"Choose at most {MAX_RANGE_DAYS} days.",
            details={"start": "Shorten the range."},
        )
    if selection.group and selection.group not in dimensions_of(meter):
        raise AppError(
            "validation_error",
            "This meter has no such dimension.",
            details={"group": f"Choose from {dimensions_of(meter) or 'none'}."},
        )
    zone = ZoneInfo(customer.timezone)
    start = datetime(
        selection.start_day.year, selection.start_day.month, selection.start_day.day, tzinfo=zone
    )
    last = selection.end_day + timedelta(days=1)
    end = datetime(last.year, last.month, last.day, tzinfo=zone)
    return usage_series(
        customer=customer,
        meter=meter,
        start=start,
        end=end,
        window=selection.window,
        tz=customer.timezone,
        group_by=[selection.group] if selection.group else None,
    )


# --- invoices ---------------------------------------------------------------------------


def customer_invoices(customer: Customer) -> QuerySet[Invoice]:
    """Issued invoices (never drafts) of this customer, newest first."""
    return invoices_for_customer(None, customer)


def customer_invoice(customer: Customer, number: str) -> Invoice:
    invoice = customer_invoices(customer).filter(number=number).first()
    if invoice is None:
        raise NotFound(f"No invoice numbered {number!r}.")
    return invoice
