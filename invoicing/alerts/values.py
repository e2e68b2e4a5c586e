"""What an alert measures, for one customer at one instant, and in which billing period.

Each value comes from the code that owns it: usage through ``invoicing.usage.MeteringUsage``
(the selector invoices and usage pages share), spend from ``compute_for_period`` for the period
in effect (the computation that drafts and finalizes invoices, as ``upcoming_invoice`` does),
credit balances from the credit ledger selectors, commit burn from the prepaid commits' credit
grants. ``None`` means "not measurable now" (no contract, no commit): the alert is skipped,
never fired on a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from django.db.models import Q

from accounts.models import Customer
from billingsite.errors import AppError
from invoicing.alerts.models import Alert, AlertType
from invoicing.alerts.spend import remember
from invoicing.models import CommitKind, Contract
from invoicing.selectors.credits import customer_credit_summary, grants_with_balance
from invoicing.selectors.invoices import compute_for_period, contract_period, current_contract
from invoicing.usage import MeteringUsage, UsageSource

ZERO = Decimal(0)
HUNDRED = Decimal(100)


@dataclass
class CustomerSnapshot:
    """One customer at one instant: contract, period, and values read once per evaluation."""

    customer: Customer
    at: datetime
    contract: Contract | None
    period_start: datetime
    period_end: datetime
    usage: UsageSource = field(default_factory=MeteringUsage)
    # Set by a batch (``invoicing.alerts.chunk``) that knows the customer has no credit grant
    # or no issued invoice: the spend computation skips those reads; ``spend_memo`` keeps
    # what the spend pre-filter (``invoicing.alerts.spend``) needs.
    with_credits: bool = True
    with_billed: bool = True
    spend_memo: bool = False
    catalog: Any = None  # the batch's catalog version, part of the memo's fingerprint
    _cache: dict[Any, Decimal | None] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        customer: Customer,
        at: datetime,
        *,
        contract: Contract | Literal[False] | None = False,
        usage: UsageSource | None = None,
    ) -> CustomerSnapshot:
        """``contract`` (the one in effect, or None) when the caller read it already;
        ``usage`` a source shared by a chunk of customers (``invoicing.alerts.chunk``)."""
        if contract is False:
            contract = current_contract(customer, at)
        source = usage or MeteringUsage()
        if contract is not None:
            period = contract_period(contract, at)
            return cls(customer, at, contract, period.start, period.end, source)
        start, end = calendar_month(at)
        return cls(customer, at, None, start, end, source)

    def value(self, alert: Alert) -> Decimal | None:
        key = value_key(alert)
        if key not in self._cache:
            self._cache[key] = _MEASURES[AlertType(alert.type)](self, alert)
        return self._cache[key]

    def know(self, alert: Alert, value: Decimal | None) -> None:
        """Take ``alert``'s value as read by a batch (credit balances, commit burn)."""
        self._cache[value_key(alert)] = value


def value_key(alert: Alert) -> tuple[Any, ...]:
    """Alerts measuring the same thing share one reading per snapshot."""
    return (alert.type, alert.meter_id, repr(sorted(alert.group_filter.items())), alert.currency)


def calendar_month(at: datetime) -> tuple[datetime, datetime]:
    """The UTC calendar month of ``at``: the period of a customer without a contract."""
    at = at.astimezone(UTC)
    start = datetime(at.year, at.month, 1, tzinfo=UTC)
    year, month = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
    return start, datetime(year, month, 1, tzinfo=UTC)


def usage_value(snap: CustomerSnapshot, alert: Alert) -> Decimal | None:
    assert alert.meter is not None
    wanted = {k: str(v) for k, v in (alert.group_filter or {}).items()}
    reading = snap.usage(
        customer=snap.customer,
        meter_key=alert.meter.key,
        start=snap.period_start,
        end=snap.period_end,
        group_by=sorted(wanted) or None,
    )
    if not wanted:
        return reading.total
    return sum(
        (
            value
            for group, value in reading.groups
            if all(str(group.get(k)) == v for k, v in wanted.items())
        ),
        ZERO,
    )


def spend_value(snap: CustomerSnapshot, alert: Alert) -> Decimal | None:
    if snap.contract is None:
        return None
    try:
        period = contract_period(snap.contract, snap.at)
        computation = compute_for_period(
            snap.contract,
            period,
            usage=snap.usage,
            with_credits=snap.with_credits,
            with_billed=snap.with_billed,
        )
    except AppError:  # no contract in effect, a price that cannot be computed yet
        return None
    if snap.spend_memo:
        remember(snap, computation)
    return Decimal(computation.total)


def credit_value(snap: CustomerSnapshot, alert: Alert) -> Decimal | None:
    return customer_credit_summary(snap.customer, at=snap.at).get(alert.currency.upper(), ZERO)


def commit_burn_value(snap: CustomerSnapshot, alert: Alert) -> Decimal | None:
    """Percent of the live prepaid commits' credit used: (granted - balance) / granted."""
    at = snap.at
    grants = grants_with_balance(snap.customer).filter(
        Q(commit__kind=CommitKind.PREPAID)
        & Q(effective_at__lte=at)
        & (Q(expires_at__isnull=True) | Q(expires_at__gt=at))
    )
    granted = used = ZERO
    for grant in grants:
        amount = Decimal(grant.amount.amount)  # type: ignore[attr-defined]
        granted += amount
        used += amount - grant.balance  # type: ignore[attr-defined]
    if granted <= 0:
        return None
    return (used * HUNDRED / granted).quantize(Decimal("0.0001"))


_MEASURES = {
    AlertType.USAGE_THRESHOLD: usage_value,
    AlertType.SPEND_THRESHOLD: spend_value,
    AlertType.CREDIT_BALANCE_BELOW: credit_value,
    AlertType.COMMIT_BURN: commit_burn_value,
}
