"""What an invoice for one contract and period contains: ``invoice_compute``.

The one function behind drafts, refreshes, finalization and previews, so they agree. Reads only.

Line order and rules (every amount rounded once, by the engine or ``round_line``):
1. prepaid commits starting in the period (the prepayment itself);
2. each charge per segment of constant price: fixed fees prorated by local day; usage rated
   as one ladder per period (``selectors.usage_ladders``: each segment priced on the cumulative
   usage from the ladder's start, tiers carrying across, minimum/maximum per period);
3. late-usage adjustments for earlier finalized periods (re-rated minus already billed);
4. minimum-commit true-up (prorated by day) when spend falls short;
5. discounts on the subtotal of 2-4 (never more than it); then tax lines (``invoicing.tax``);
6. credits on what remains, in DESIGN order: soonest expiry, priority, promotional before
   paid, oldest; never more than a grant's balance.
The total is the sum of the rounded lines (``billingsite.money.sum_lines``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from billingsite.money import exact_context, format_decimal, round_line, sum_lines
from invoicing.models import (
    ChargeKind,
    CommitKind,
    DiscountDuration,
    DiscountKind,
    GrantKind,
    LineKind,
)
from invoicing.periods import Period, local_midnight_utc
from invoicing.pricing import Rating, rate_flat
from invoicing.selectors.terms import ChargeSegment, ContractTerms
from invoicing.selectors.usage_ladders import RatedSegment, rate_ladder, usage_ladders
from invoicing.usage import UsageSource

ZERO = Decimal(0)
HUNDRED = Decimal(100)
CHARGE_KINDS = (LineKind.FIXED, LineKind.USAGE, LineKind.ADJUSTMENT, LineKind.TRUE_UP)


@dataclasses.dataclass
class LineDraft:
    kind: str
    description: str
    period_start: datetime
    period_end: datetime
    amount: Decimal
    charge_key: str = ""
    meter_key: str = ""
    quantity: Decimal | None = None
    price: dict[str, Any] | None = None
    breakdown: list[Any] = dataclasses.field(default_factory=list)
    overrides: list[Any] = dataclasses.field(default_factory=list)
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    credit_grant_id: int | None = None
    adjusts_invoice_id: int | None = None


@dataclasses.dataclass
class InvoiceComputation:
    period: Period
    currency: str
    lines: list[LineDraft]

    @property
    def total(self) -> Decimal:
        return sum_lines((line.amount for line in self.lines), self.currency)


@dataclasses.dataclass(frozen=True)
class GrantBalance:
    """A grant that may pay this invoice, with its balance at computation time."""

    grant_id: int
    kind: str
    balance: Decimal
    expires_at: datetime | None
    priority: int
    created_at: datetime

    def order_key(self) -> tuple[Any, ...]:
        never = (1, datetime.max.replace(tzinfo=self.created_at.tzinfo))
        expiry = never if self.expires_at is None else (0, self.expires_at)
        kind_rank = 0 if self.kind == GrantKind.PROMOTIONAL else 1
        return (expiry, self.priority, kind_rank, self.created_at, self.grant_id)


@dataclasses.dataclass(frozen=True)
class BilledUsage:
    """Usage already billed for an earlier finalized period, per charge key."""

    invoice_id: int
    period: Period
    amounts: dict[str, Decimal]


def invoice_compute(
    terms: ContractTerms,
    period: Period,
    *,
    usage: UsageSource,
    grants: list[GrantBalance],
    billed: list[BilledUsage] = (),  # type: ignore[assignment]
    tax: Callable[[list[LineDraft]], list[LineDraft]] | None = None,
) -> InvoiceComputation:
    currency = terms.contract.currency
    lines: list[LineDraft] = []
    lines += _commit_lines(terms, period, currency)
    lines += _charge_lines(terms, period, usage, currency)
    lines += _adjustment_lines(terms, billed, usage, currency)
    lines += _true_up_lines(terms, period, lines, currency)
    lines += _discount_lines(terms, period, lines, currency)
    lines += tax(lines) if tax is not None else []  # invoicing.tax.lines, before credits
    lines += credit_lines(period, lines, grants, currency)
    return InvoiceComputation(period, currency, lines)


def _utc(day: date, period: Period) -> datetime:
    return local_midnight_utc(day, period.timezone)


def _commit_lines(terms: ContractTerms, period: Period, currency: str) -> list[LineDraft]:
    return [
        LineDraft(
            LineKind.COMMIT,
            f"Prepaid commit: {commit.note or commit.amount}",
            period.start,
            period.end,
            round_line(Decimal(commit.amount), currency),
            details={"commit_id": commit.pk},
        )
        for commit in terms.contract.commits.all()
        if commit.kind == CommitKind.PREPAID
        and period.start_date <= commit.effective_from < period.end_date
    ]


def _charge_lines(
    terms: ContractTerms, period: Period, usage: UsageSource, currency: str
) -> list[LineDraft]:
    lines = []
    for key in terms.charge_keys():
        lines += charge_lines(terms, period, terms.charge_segments(period, key), usage, currency)
    return lines


def charge_lines(
    terms: ContractTerms,
    period: Period,
    segments: list[ChargeSegment],
    usage: UsageSource,
    currency: str,
) -> list[LineDraft]:
    """One charge's lines over a period, in segment order: a fixed fee per segment (prorated
    by day), usage per segment rated as one ladder per period (``selectors.usage_ladders``)."""
    rated: dict[int, RatedSegment] = {}
    for ladder in usage_ladders(segments):
        for item in rate_ladder(
            ladder,
            customer=terms.contract.customer,
            utc=lambda day: _utc(day, period),
            usage=usage,
            currency=currency,
        ):
            rated[id(item.segment)] = item
    lines = []
    for segment in segments:
        found = rated.get(id(segment))
        lines.append(
            _fixed_line(period, segment, currency) if found is None else _usage_line(period, found)
        )
    return lines


def _fixed_line(period: Period, segment: ChargeSegment, currency: str) -> LineDraft:
    days = (segment.end_date - segment.start_date).days
    rating = rate_flat(segment.spec, currency, days_used=days, days_in_period=period.days)
    details: dict[str, Any] = {
        "segment": _segment_dates(segment),
        "days_used": days,
        "days_in_period": period.days,
    }
    description = segment.charge.name
    if days != period.days:
        description += f" (prorated {days}/{period.days} days)"
    return _rated_line(
        LineKind.FIXED,
        _describe(description, period, segment),
        _utc(segment.start_date, period),
        _utc(segment.end_date, period),
        rating,
        segment,
        None,
        details,
    )


def _usage_line(period: Period, item: RatedSegment) -> LineDraft:
    segment = item.segment
    details = {"segment": _segment_dates(segment), **item.details}
    return _rated_line(
        LineKind.USAGE,
        _describe(segment.charge.name, period, segment),
        item.start,
        item.end,
        item.rating,
        segment,
        item.quantity,
        details,
    )


def _segment_dates(segment: ChargeSegment) -> list[str]:
    return [segment.start_date.isoformat(), segment.end_date.isoformat()]


def _describe(description: str, period: Period, segment: ChargeSegment) -> str:
    if (segment.start_date, segment.end_date) != (period.start_date, period.end_date):
        description += f", {segment.start_date} to {segment.end_date}"
    return description


def _rated_line(
    kind: str,
    description: str,
    start: datetime,
    end: datetime,
    rating: Rating,
    segment: ChargeSegment,
    quantity: Decimal | None,
    details: dict[str, Any],
) -> LineDraft:
    details["amount_unrounded"] = format_decimal(rating.amount_unrounded)
    details["rated_quantity"] = format_decimal(rating.quantity)
    breakdown = rating.as_dict()["breakdown"]
    return LineDraft(
        kind,
        description,
        start,
        end,
        rating.amount,
        charge_key=segment.charge.key,
        meter_key=segment.charge.meter_key,
        quantity=quantity,
        price=segment.spec.as_dict(),
        breakdown=breakdown,
        overrides=list(segment.overrides),
        details=details,
    )


def _adjustment_lines(
    terms: ContractTerms, billed: list[BilledUsage], usage: UsageSource, currency: str
) -> list[LineDraft]:
    """Late usage: re-rate each earlier finalized period and bill the difference."""
    lines = []
    for previous in billed:
        for key in terms.charge_keys():
            segments = [
                s
                for s in terms.charge_segments(previous.period, key)
                if s.charge.kind == ChargeKind.USAGE
            ]
            if not segments:
                continue
            now = charge_lines(terms, previous.period, segments, usage, currency)
            delta = sum_lines((line.amount for line in now), currency) - previous.amounts.get(
                key, ZERO
            )
            if delta == 0:
                continue
            period = previous.period
            lines.append(
                LineDraft(
                    LineKind.ADJUSTMENT,
                    f"{segments[0].charge.name}: late usage for {period.start_date} to "
                    f"{period.end_date}",
                    period.start,
                    period.end,
                    delta,
                    charge_key=key,
                    meter_key=segments[0].charge.meter_key,
                    quantity=sum((line.quantity or ZERO for line in now), ZERO),
                    details={
                        "rerated_amount": str(delta + previous.amounts.get(key, ZERO)),
                        "billed_amount": str(previous.amounts.get(key, ZERO)),
                    },
                    adjusts_invoice_id=previous.invoice_id,
                )
            )
    return lines


def _true_up_lines(
    terms: ContractTerms, period: Period, lines: list[LineDraft], currency: str
) -> list[LineDraft]:
    spend = sum_lines((ln.amount for ln in lines if ln.kind in CHARGE_KINDS), currency)
    result = []
    for commit in terms.contract.commits.all():
        days = period.overlap_days(commit.effective_from, commit.effective_to)
        active = terms.active_range(period)
        if commit.kind != CommitKind.MINIMUM or not days or active is None:
            continue
        days = min(days, (active[1] - active[0]).days)
        with exact_context():
            minimum = round_line(Decimal(commit.amount) * days / period.days, currency)
        if spend < minimum:
            result.append(
                LineDraft(
                    LineKind.TRUE_UP,
                    f"Minimum commit true-up (commit {minimum}, spend {spend})",
                    period.start,
                    period.end,
                    minimum - spend,
                    details={
                        "commit_id": commit.pk,
                        "minimum": str(minimum),
                        "spend": str(spend),
                        "days": days,
                        "days_in_period": period.days,
                    },
                )
            )
            spend = minimum
    return result


def _discount_applies(discount: Any, period: Period) -> bool:
    if discount.duration == DiscountDuration.ONCE:
        return period.start_date <= discount.effective_from < period.end_date
    return period.overlap_days(discount.effective_from, discount.effective_to) > 0


def _discount_lines(
    terms: ContractTerms, period: Period, lines: list[LineDraft], currency: str
) -> list[LineDraft]:
    remaining = sum_lines((ln.amount for ln in lines if ln.kind in CHARGE_KINDS), currency)
    result = []
    for discount in terms.contract.discounts.all():
        if remaining <= 0 or not _discount_applies(discount, period):
            continue
        with exact_context():
            wanted = (
                remaining * Decimal(discount.value) / HUNDRED
                if discount.kind == DiscountKind.PERCENTAGE
                else Decimal(discount.value)
            )
        amount = min(round_line(wanted, currency), remaining)
        remaining -= amount
        result.append(
            LineDraft(
                LineKind.DISCOUNT,
                f"Discount: {discount.name}",
                period.start,
                period.end,
                -amount,
                details={
                    "discount_id": discount.pk,
                    "kind": discount.kind,
                    "value": format_decimal(Decimal(discount.value)),
                },
            )
        )
    return result


def credit_lines(
    period: Period, lines: list[LineDraft], grants: list[GrantBalance], currency: str
) -> list[LineDraft]:
    """Draw credits on the amount due (excluding the prepayment of a commit)."""
    due = sum_lines((ln.amount for ln in lines if ln.kind != LineKind.COMMIT), currency)
    result = []
    for grant in sorted(grants, key=GrantBalance.order_key):
        if due <= 0:
            break
        draw = min(grant.balance, due)
        if draw <= 0:
            continue
        due -= draw
        result.append(
            LineDraft(
                LineKind.CREDIT,
                f"Credit applied ({grant.kind} grant #{grant.grant_id})",
                period.start,
                period.end,
                -draw,
                credit_grant_id=grant.grant_id,
                details={
                    "grant_id": grant.grant_id,
                    "balance_before": str(grant.balance),
                    "balance_after": str(grant.balance - draw),
                },
            )
        )
    return result
