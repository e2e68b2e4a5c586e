"""One ladder per period: a usage charge whose price changes mid-period, priced by segment.

A charge's billing period is cut into segments of constant price (an amendment, an override
starting or ending). The customer still climbs ONE ladder per period: usage is counted from
the start of the ladder (its first segment), and segment k, priced with its own spec S_k,
covers the cumulative quantities from Q(k-1) to Q(k) (Q(0) = "nothing yet"):

- graduated, graduated_percentage, per_unit, package, flat (quantity models):
  ``S_k(Q(k)) - S_k(Q(k-1))``, tier by tier. Tiers, free units and started packages carry
  across segments; a tier's flat fee is paid in the segment that enters it (the first tier is
  entered at the ladder's start). With one spec the segments telescope to ``S(Q(n))``.
- volume: every unit is priced at the tier the PERIOD's quantity Q(n) reaches (under S_k's
  tiers): ``(Q(k) - Q(k-1)) * unit_amount_k(tier)``, and that tier's flat fee is paid in the
  segment that enters it. Not the incremental ``V_k(Q(k)) - V_k(Q(k-1))``: a volume price is
  not monotone (crossing into a cheaper tier lowers the whole amount), so the incremental rule
  makes lines negative and, worse, a discount amendment can raise the total. Example: tiers
  ``up to 1000 at 1, above at 0.5``, 1000 units before a 50 % multiplier and 100 after:
  incremental = 1000 + 0.5 * (550 - 1000) = 775 > 550 (the price without the discount);
  this rule = 1000 * 0.5 + 100 * 0.25 = 525. Both give ``V(Q(n))`` with one spec.
- matrix: linear per group, so each group's segment units are its cumulative difference.
- percentage: per event, in event order; the free allowance (``free_units``/``free_amount``)
  is consumed by the ladder's earlier events (``PercentageStep.skip``) before the segment's
  events are priced (``PercentageStep.add``).
- ``minimum``/``maximum`` apply to the period (the whole ladder), not to each segment: per
  segment, a mid-period amendment would charge the minimum twice and double the cap. The
  ladder's limit is the days-weighted average of the segments' limits (a segment without a
  minimum counts 0, one without a maximum means no cap), compared with the sum of all
  segments; the difference is an ``AdjustmentItem`` on the LAST segment's line (which can make
  that line negative when a cap applies). With one spec the limit is the spec's own.

Each segment's line is then rounded once (``billingsite.money.round_line``); a single-segment
ladder gives exactly ``rate_quantity``/``rate_groups`` (property-tested).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from billingsite.money import exact_context, normalize_currency, round_line

from .definitions import ZERO, MatrixPrice, PercentagePrice, PriceSpec, VolumePrice
from .engine import apply_transform, group_quantities, non_negative, price_quantity_items
from .errors import PricingError
from .event_pricing import Allowance, GroupKey, price_event, price_matrix
from .rating import (
    AdjustmentItem,
    BreakdownItem,
    EventSummaryItem,
    FlatItem,
    PackageItem,
    PercentTierItem,
    Rating,
    TierItem,
    UnitItem,
)

# The additive fields of each breakdown item: a segment's item is upper minus lower on these.
_ADDITIVE: dict[type, tuple[str, ...]] = {
    TierItem: ("units", "flat_amount", "amount"),
    PercentTierItem: ("value", "flat_amount", "amount"),
    UnitItem: ("units", "amount"),
    PackageItem: ("units", "packages", "amount"),
    FlatItem: ("quantity", "amount"),
}


@dataclasses.dataclass(frozen=True)
class LadderPart:
    """One segment's unrounded part: its spec, its days, the (transformed) quantity it
    covers and the breakdown items of that part (no minimum/maximum yet)."""

    spec: PriceSpec
    days: int
    quantity: Decimal
    items: tuple[BreakdownItem, ...]


def ladder_quantity_step(
    spec: PriceSpec, *, before: Decimal | None, through: Decimal, final: Decimal, days: int
) -> LadderPart:
    """The part of a quantity-priced segment: cumulative usage ``before`` it (None for the
    ladder's first segment) and ``through`` its end; ``final`` is the ladder's total (volume
    tiers are decided by it)."""
    high = apply_transform(spec, non_negative(through, "through"))
    low = None if before is None else apply_transform(spec, non_negative(before, "before"))
    pricing = spec.pricing
    with exact_context():
        if isinstance(pricing, VolumePrice):
            reached = apply_transform(spec, non_negative(final, "final"))
            items = _volume_step(pricing, low, high, reached)
        else:
            upper = price_quantity_items(pricing, high)
            lower = [] if low is None else price_quantity_items(pricing, low)
            items = _difference(upper, lower)
        quantity = high - (low or ZERO)
    return LadderPart(spec, days, quantity, tuple(items))


def ladder_groups_step(
    spec: PriceSpec,
    *,
    before: Iterable[tuple[Mapping[str, Any], Decimal]] | None,
    through: Iterable[tuple[Mapping[str, Any], Decimal]],
    days: int,
) -> LadderPart:
    """The part of a matrix-priced segment: per group, cumulative usage through its end minus
    before it (``before`` None for the ladder's first segment)."""
    pricing = spec.pricing
    if not isinstance(pricing, MatrixPrice):
        raise PricingError("wrong_model", f"A matrix step needs a matrix price, not {spec.model}.")
    upper = _transformed_groups(spec, pricing, through)
    lower = {} if before is None else _transformed_groups(spec, pricing, before)
    with exact_context():
        pairs = [(key, units - lower.get(key, ZERO)) for key, units in upper.items()]
        pairs += [(key, -units) for key, units in lower.items() if key not in upper and units]
        items = price_matrix(pricing, pairs)
        quantity = sum((units for _key, units in pairs), ZERO)
    return LadderPart(spec, days, quantity, tuple(items))


def _transformed_groups(
    spec: PriceSpec, pricing: MatrixPrice, groups: Iterable[tuple[Mapping[str, Any], Decimal]]
) -> dict[GroupKey, Decimal]:
    return {key: apply_transform(spec, units) for key, units in group_quantities(pricing, groups)}


class PercentageStep:
    """Prices one segment's events with a percentage spec, summed into one breakdown item.

    Feed the ladder's earlier events to ``skip`` (they only use up the free allowance), then
    the segment's events to ``add``, in event order. Once ``linear`` is True every further
    event costs ``rate`` % of its value plus the fixed fee, so the rest may be priced from a
    count and a sum (``add_bulk``) instead of one by one.
    """

    def __init__(self, spec: PriceSpec) -> None:
        if not isinstance(spec.pricing, PercentagePrice):
            raise PricingError("wrong_model", f"Expected a percentage price, not {spec.model}.")
        self.spec = spec
        self.price: PercentagePrice = spec.pricing
        self.allowance = Allowance(self.price)
        self.events = self.free_events = self.clamped_minimum = self.clamped_maximum = 0
        self.value = self.free_value = self.percentage_amount = ZERO
        self.fixed_total = self.clamp_adjustment = self.amount = ZERO

    @property
    def allowance_open(self) -> bool:
        return self.allowance.is_open()

    @property
    def linear(self) -> bool:
        price = self.price
        return (
            not self.allowance.is_open()
            and price.min_per_event is None
            and price.max_per_event is None
            and self.spec.transform is None
        )

    def skip(self, value: Decimal) -> None:
        """An earlier event of the ladder: it uses up the free allowance, nothing else."""
        transformed = apply_transform(self.spec, non_negative(value, "value"))
        if self.allowance.is_open():
            with exact_context():
                self.allowance.take(transformed)

    def add(self, value: Decimal) -> None:
        """One event of this segment, priced as the per-event model says."""
        transformed = apply_transform(self.spec, non_negative(value, "value"))
        with exact_context():
            inside = self.allowance.is_open()
            item = price_event(self.price, self.allowance, self.events, transformed)
            self.events += 1
            self.value += transformed
            self.free_value += item.free_value
            if inside and item.free_value == item.value:
                self.free_events += 1
            self.percentage_amount += item.percentage_amount
            self.fixed_total += item.fixed_amount
            self.clamp_adjustment += item.amount - item.percentage_amount - item.fixed_amount
            self.clamped_minimum += item.clamped == "minimum"
            self.clamped_maximum += item.clamped == "maximum"
            self.amount += item.amount

    def add_bulk(self, count: int, total: Decimal) -> None:
        """``count`` further events whose values sum to ``total`` (only while ``linear``)."""
        if not self.linear:
            raise PricingError(
                "not_linear",
                "Events inside the free allowance or with "
                "per-event limits or a transform are priced one by one.",
            )
        total = non_negative(total, "total")
        with exact_context():
            percentage_amount = total * self.price.rate / Decimal(100)
            fixed_total = self.price.fixed_amount * count
            self.events += count
            self.value += total
            self.percentage_amount += percentage_amount
            self.fixed_total += fixed_total
            self.amount += percentage_amount + fixed_total

    def part(self, days: int) -> LadderPart:
        item = EventSummaryItem(
            events=self.events,
            value=self.value,
            free_events=self.free_events,
            free_value=self.free_value,
            rate=self.price.rate,
            percentage_amount=self.percentage_amount,
            fixed_amount=self.price.fixed_amount,
            fixed_total=self.fixed_total,
            clamped_minimum=self.clamped_minimum,
            clamped_maximum=self.clamped_maximum,
            clamp_adjustment=self.clamp_adjustment,
            amount=self.amount,
        )
        return LadderPart(self.spec, days, self.value, (item,))


def finish_ladder(parts: Sequence[LadderPart], currency: str) -> list[Rating]:
    """Apply the ladder's minimum/maximum (on the last part) and round each part once."""
    currency = normalize_currency(currency)
    if any(isinstance(p.days, bool) or not isinstance(p.days, int) or p.days <= 0 for p in parts):
        raise PricingError("invalid_days", "Every segment of a ladder covers at least one day.")
    items = [list(part.items) for part in parts]
    with exact_context():
        subtotal = sum((item.amount for part_items in items for item in part_items), ZERO)
        limit = _ladder_limit(parts, subtotal)
        if limit is not None:
            items[-1].append(limit)
        totals = [sum((item.amount for item in part_items), ZERO) for part_items in items]
    return [
        Rating(
            model=part.spec.model,
            currency=currency,
            quantity=part.quantity,
            amount_unrounded=total,
            amount=round_line(total, currency),
            breakdown=tuple(part_items),
        )
        for part, part_items, total in zip(parts, items, totals, strict=True)
    ]


def ladder_limits(parts: Sequence[LadderPart]) -> tuple[Decimal | None, Decimal | None]:
    """The ladder's (minimum, maximum): days-weighted averages of the parts' limits.

    A part without a minimum counts as 0; a part without a maximum removes the cap. When all
    parts carry the same limit the average is that limit exactly (``m * D / D``)."""
    if not parts:
        return None, None
    days = sum(part.days for part in parts)
    with exact_context():
        minimum = None
        if any(part.spec.minimum is not None for part in parts):
            minimum = sum(((part.spec.minimum or ZERO) * part.days for part in parts), ZERO) / days
        maximum = None
        if all(part.spec.maximum is not None for part in parts):
            maximum = (
                sum(
                    (
                        part.spec.maximum * part.days
                        for part in parts
                        if part.spec.maximum is not None
                    ),
                    ZERO,
                )
                / days
            )
    return minimum, maximum


def _ladder_limit(parts: Sequence[LadderPart], subtotal: Decimal) -> AdjustmentItem | None:
    minimum, maximum = ladder_limits(parts)
    if minimum is not None and subtotal < minimum:
        return AdjustmentItem("minimum", minimum, minimum - subtotal)
    if maximum is not None and subtotal > maximum:
        return AdjustmentItem("maximum", maximum, maximum - subtotal)
    return None


def _volume_step(
    price: VolumePrice, low: Decimal | None, high: Decimal, reached: Decimal
) -> list[BreakdownItem]:
    """Units of this segment at the tier ``reached`` (the ladder's total) falls in; that tier's
    flat fee in the segment whose cumulative quantity enters it."""
    lower, index = ZERO, 0
    tier = price.tiers[0]
    for index, tier in enumerate(price.tiers):  # noqa: B007  (the loop finds the tier)
        if tier.up_to is None or reached <= tier.up_to:
            break
        lower = tier.up_to
    units = high - (low or ZERO)

    def entered(quantity: Decimal | None) -> int:
        if quantity is None:
            return 0
        return 1 if index == 0 or quantity > lower else 0

    flat = tier.flat_amount * (entered(high) - entered(low))
    amount = units * tier.unit_amount + flat
    return [TierItem(index, lower, tier.up_to, units, tier.unit_amount, flat, amount)]


def _difference(upper: list[BreakdownItem], lower: list[BreakdownItem]) -> list[BreakdownItem]:
    """``upper - lower`` item by item (same tier, same kind); all-zero items are dropped, but
    the item holding the upper position is kept so a line always names its tier."""
    if not lower:
        return upper
    remaining = {_key(item): item for item in lower}
    result: list[BreakdownItem] = []
    for item in upper:
        other = remaining.pop(_key(item), None)
        result.append(item if other is None else _minus(item, other))
    result += [_minus(None, item) for item in remaining.values()]
    kept = [item for item in result if any(getattr(item, f) for f in _ADDITIVE[type(item)])]
    return kept or result[len(upper) - 1 : len(upper)]


def _key(item: BreakdownItem) -> tuple[str, int]:
    return (item.kind, getattr(item, "tier_index", 0))


def _minus(upper: BreakdownItem | None, lower: BreakdownItem) -> BreakdownItem:
    base = upper if upper is not None else lower
    fields = _ADDITIVE[type(base)]
    changes = {
        name: (getattr(upper, name) if upper is not None else ZERO) - getattr(lower, name)
        for name in fields
    }
    return dataclasses.replace(base, **changes)  # type: ignore[type-var]
