"""Spend alerts without computing the upcoming invoice at every event: a headroom pre-filter.

Computing a customer's spend (``compute_for_period``) is the expensive read of an alert
evaluation. After each computation the evaluator remembers, per customer and period (in the
worker's memory): the spend, and for every usage line the reading it was rated on and its
price. At the next evaluation, before computing again, ``spend_ceiling`` bounds the spend from
above using only the usage readings the batch has read anyway:

    spend now <= spend then + sum over usage lines of  max_increase(price, reading now - then)
                            + one minor unit of rounding per usage line

``max_increase`` is a bound of how much a price can add when its quantity grows by ``dq``:
``unit_amount * dq`` for per-unit, the highest tier's unit amount times ``dq`` plus every tier's
flat fee for graduated, ``(dq / size + 1)`` packages for package prices; a quantity transform
divides ``dq`` and may add one rounding quantum; minimum and maximum clamps never widen a
difference. When the ceiling is below the next threshold not yet fired, the spend cannot have
crossed it and is not computed. The pre-filter is conservative: a crossing it lets through is
computed as before, and it only applies where the bound is sound, otherwise the spend is
computed every time:

- the invoice has only fixed-fee and usage lines (no credits, commits, discounts, minimums,
  taxes or late-usage adjustments: those depend on more than this period's usage), and the
  customer has no credit grant and no issued invoice (read per batch);
- each usage line is its charge's only line and is rated on exactly one reading (its quantity
  equals that reading), with a price model above (volume, percentage, matrix and graduated
  percentage prices are always computed);
- no reading went down, the contract and its terms (the contract row: every change of its
  terms bumps its ``updated_at``), the customer and the catalog's charges (their history) are
  unchanged (``fingerprint``), and the memo is younger than ``ALERTS_SPEND_MEMO_SECONDS``
  (default 300), which bounds how long a change elsewhere (a tax rate table) can go unseen.

The property test ``tests/invoicing/alerts/test_spend_prefilter.py`` checks the bound against
the rating engine over random prices and usage.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models

from billingsite.money import currency_exponent
from invoicing.models import LineKind
from invoicing.pricing import PriceSpec, parse_price_spec
from invoicing.pricing.definitions import FlatPrice, GraduatedPrice, PackagePrice, PerUnitPrice
from invoicing.usage import UsageRequest

if TYPE_CHECKING:
    from invoicing.selectors.computation import InvoiceComputation

# ``snap`` arguments are ``invoicing.alerts.values.CustomerSnapshot`` (not imported: it imports
# this module).
MEMO_MAX = 200_000
ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(frozen=True)
class SpendMemo:
    fingerprint: tuple[Any, ...]
    spend: Decimal
    reads: tuple[tuple[UsageRequest, Decimal, PriceSpec], ...]  # (reading, quantity then, price)
    slack: Decimal
    at: float


_memos: OrderedDict[tuple[int, datetime], SpendMemo] = OrderedDict()


def memo_seconds() -> float:
    return float(getattr(settings, "ALERTS_SPEND_MEMO_SECONDS", 300))


def forget_all() -> None:
    _memos.clear()


def max_increase(spec: PriceSpec, dq: Decimal) -> Decimal | None:
    """An upper bound of how much ``spec``'s (unrounded) amount grows when its quantity grows
    by ``dq >= 0`` from any starting quantity; None when no simple bound holds."""
    if spec.transform is not None:
        transform = spec.transform
        dq = dq / transform.divide_by
        if transform.rounding != "none":
            dq += Decimal(10) ** -transform.precision
    pricing = spec.pricing
    if isinstance(pricing, PerUnitPrice):
        return pricing.unit_amount * dq
    if isinstance(pricing, FlatPrice):
        return pricing.amount * dq
    if isinstance(pricing, GraduatedPrice):
        top = max(tier.unit_amount for tier in pricing.tiers)
        return top * dq + sum((tier.flat_amount for tier in pricing.tiers), ZERO)
    if isinstance(pricing, PackagePrice):
        packages = (dq / pricing.package_size).to_integral_value(ROUND_CEILING) + ONE
        return pricing.package_amount * packages
    return None


def fingerprint(snap: Any) -> tuple[Any, ...]:
    """What the spend depends on besides usage, without reading the contract's terms: the
    contract row, whose ``updated_at`` every change of its terms bumps (``touch_contract``:
    amendments, overrides, commits, discounts), the customer row, and the batch's catalog
    version (``snap.catalog``: the latest change of any charge or plan version)."""
    assert snap.contract is not None
    return (_row(snap.contract), _row(snap.contract.customer), snap.catalog)


def _row(obj: models.Model) -> tuple[Any, ...]:
    values = [repr(getattr(obj, field.attname)) for field in obj._meta.concrete_fields]
    return (type(obj).__name__, *values)


def remember(snap: Any, computation: InvoiceComputation) -> None:
    """Keep what ``spend_ceiling`` needs after computing ``snap``'s spend, or forget an older
    memo when this invoice is outside what the bound covers."""
    assert snap.contract is not None
    key = (snap.customer.pk, snap.period_start)
    _memos.pop(key, None)
    reads: list[tuple[UsageRequest, Decimal, PriceSpec]] = []
    charges: set[str] = set()
    for line in computation.lines:
        if line.kind == LineKind.FIXED:
            continue
        if line.kind != LineKind.USAGE or line.charge_key in charges or not line.meter_key:
            return
        charges.add(line.charge_key)
        request = UsageRequest(
            snap.customer.pk, line.meter_key, line.period_start, line.period_end, ()
        )
        if line.price is None:
            return
        spec = parse_price_spec(line.price)
        if line.quantity is None or _reading(snap, request) != line.quantity:
            return
        if max_increase(spec, ONE) is None:
            return
        reads.append((request, line.quantity, spec))
    unit = Decimal(10) ** -currency_exponent(computation.currency)
    memo = SpendMemo(
        fingerprint(snap),
        computation.total,
        tuple(reads),
        unit * len(reads),
        time.monotonic(),
    )
    _memos[key] = memo
    if len(_memos) > MEMO_MAX:
        _memos.popitem(last=False)


def memo_reads(snap: Any) -> list[UsageRequest] | None:
    """The readings ``spend_ceiling`` will take for ``snap`` (to read them ahead), or None
    when there is no memo."""
    memo = _memos.get((snap.customer.pk, snap.period_start))
    return None if memo is None else [request for request, _q, _s in memo.reads]


def current_memo(snap: Any) -> SpendMemo | None:
    """``snap``'s memo if it still applies (young enough, same fingerprint)."""
    if snap.contract is None:
        return None
    memo = _memos.get((snap.customer.pk, snap.period_start))
    if memo is None or time.monotonic() - memo.at > memo_seconds():
        return None
    return memo if memo.fingerprint == fingerprint(snap) else None


def spend_ceiling(snap: Any) -> Decimal | None:
    """An upper bound of ``snap``'s spend now from its memo and the current readings, or None
    (no memo, or one that no longer applies)."""
    memo = current_memo(snap)
    if memo is None:
        return None
    ceiling = memo.spend + memo.slack
    for request, then, spec in memo.reads:
        grown = _reading(snap, request) - then
        if grown < 0:
            return None
        increase = max_increase(spec, grown)
        if increase is None:
            return None
        ceiling += increase
    return ceiling


def next_threshold(thresholds: list[dict[str, Any]], done: dict[int, set[int]]) -> Decimal | None:
    """The lowest value at which a threshold step not yet fired this period would fire."""
    lowest: Decimal | None = None
    for index, spec in enumerate(thresholds):
        threshold = Decimal(str(spec["value"]))
        fired = done.get(index, set())
        if spec.get("recurring") and threshold > 0:
            step = 1
            while step in fired:
                step += 1
            value = threshold * step
        elif 1 in fired:
            continue
        else:
            value = threshold
        lowest = value if lowest is None else min(lowest, value)
    return lowest


def _reading(snap: Any, request: UsageRequest) -> Decimal:
    return snap.usage(
        customer=snap.customer,
        meter_key=request.meter_key,
        start=request.start,
        end=request.end,
        group_by=None,
    ).total
