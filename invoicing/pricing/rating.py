"""The result of rating: ``Rating`` and the breakdown items that explain its amount.

Invariants (property-tested):

- ``rating.amount_unrounded == sum(item.amount for item in rating.breakdown)``, exactly; the
  minimum/maximum adjustments are breakdown items like any other.
- ``rating.amount == round_line(rating.amount_unrounded, rating.currency)``: the only rounding.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any, ClassVar

from billingsite.money import exact_context, format_amount, format_decimal, round_line

from .definitions import ZERO, PriceSpec


@dataclasses.dataclass(frozen=True)
class FlatItem:
    """A recurring fee: ``amount_per_period * quantity``, times ``days_used/days_in_period``."""

    kind: ClassVar[str] = "flat"
    amount_per_period: Decimal
    quantity: Decimal
    days_used: int | None
    days_in_period: int | None
    amount: Decimal


@dataclasses.dataclass(frozen=True)
class UnitItem:
    """``units * unit_amount``."""

    kind: ClassVar[str] = "per_unit"
    units: Decimal
    unit_amount: Decimal
    amount: Decimal


@dataclasses.dataclass(frozen=True)
class PackageItem:
    """``packages * package_amount``, packages counted over ``units - free_units``."""

    kind: ClassVar[str] = "package"
    units: Decimal
    free_units: Decimal
    package_size: Decimal
    packages: Decimal
    package_amount: Decimal
    amount: Decimal


@dataclasses.dataclass(frozen=True)
class TierItem:
    """Units priced in one tier, which covers ``(from_units, up_to]`` (``up_to`` None = open).

    ``flat_amount`` is the tier's flat fee as charged by this item: on a later segment of a
    ladder (``ladder.py``) it is 0 for a tier entered in an earlier segment."""

    kind: ClassVar[str] = "tier"
    tier_index: int
    from_units: Decimal
    up_to: Decimal | None
    units: Decimal
    unit_amount: Decimal
    flat_amount: Decimal
    amount: Decimal


@dataclasses.dataclass(frozen=True)
class PercentTierItem:
    """Value charged at ``rate`` percent in one tier of a graduated percentage price."""

    kind: ClassVar[str] = "percent_tier"
    tier_index: int
    from_value: Decimal
    up_to: Decimal | None
    value: Decimal
    rate: Decimal
    flat_amount: Decimal
    amount: Decimal


@dataclasses.dataclass(frozen=True)
class EventItem:
    """One event of a percentage price; ``clamped`` names the per-event limit that applied."""

    kind: ClassVar[str] = "event"
    event_index: int
    value: Decimal
    free_value: Decimal
    percentage_amount: Decimal
    fixed_amount: Decimal
    clamped: str | None
    amount: Decimal


@dataclasses.dataclass(frozen=True)
class EventSummaryItem:
    """The events of a percentage price, summed instead of listed one by one (invoice lines;
    the preview API lists each event as an ``EventItem``).

    ``amount == percentage_amount + fixed_total + clamp_adjustment``; ``free_events`` cost
    nothing (wholly inside the free allowance); ``clamp_adjustment`` is what the per-event
    minimum and maximum added or removed (``clamped_minimum``/``clamped_maximum`` events).
    """

    kind: ClassVar[str] = "events"
    events: int
    value: Decimal
    free_events: int
    free_value: Decimal
    rate: Decimal
    percentage_amount: Decimal
    fixed_amount: Decimal
    fixed_total: Decimal
    clamped_minimum: int
    clamped_maximum: int
    clamp_adjustment: Decimal
    amount: Decimal


@dataclasses.dataclass(frozen=True)
class GroupItem:
    """One group of a matrix price; ``rate_index`` None means ``default_unit_amount``."""

    kind: ClassVar[str] = "group"
    group: tuple[tuple[str, str | None], ...]
    units: Decimal
    unit_amount: Decimal
    rate_index: int | None
    amount: Decimal


@dataclasses.dataclass(frozen=True)
class AdjustmentItem:
    """Raises the line to its ``minimum`` (a true-up) or lowers it to its ``maximum``."""

    kind: ClassVar[str] = "adjustment"
    limit: str
    threshold: Decimal
    amount: Decimal


BreakdownItem = (
    FlatItem
    | UnitItem
    | PackageItem
    | TierItem
    | PercentTierItem
    | EventItem
    | EventSummaryItem
    | GroupItem
    | AdjustmentItem
)


def item_as_dict(item: BreakdownItem) -> dict[str, Any]:
    """JSON-ready dict of a breakdown item: ``type`` plus its fields, decimals as strings."""
    data: dict[str, Any] = {"type": item.kind}
    for field in dataclasses.fields(item):
        value = getattr(item, field.name)
        if isinstance(value, Decimal):
            value = format_decimal(value)
        elif field.name == "group":
            value = dict(value)
        data[field.name] = value
    return data


@dataclasses.dataclass(frozen=True)
class Rating:
    """A priced line: exact amount, the amount rounded once, and the breakdown explaining it.

    ``quantity`` is the quantity after the spec's transform (for events, the sum of their
    transformed values); ``model`` and ``currency`` say how it was priced.
    """

    model: str
    currency: str
    quantity: Decimal
    amount_unrounded: Decimal
    amount: Decimal
    breakdown: tuple[BreakdownItem, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the API: decimals as strings, ``amount`` with currency places."""
        return {
            "model": self.model,
            "currency": self.currency,
            "quantity": format_decimal(self.quantity),
            "amount": format_amount(self.amount, self.currency),
            "amount_unrounded": format_decimal(self.amount_unrounded),
            "breakdown": [item_as_dict(item) for item in self.breakdown],
        }


def finish_rating(
    spec: PriceSpec, currency: str, quantity: Decimal, items: list[BreakdownItem]
) -> Rating:
    """Apply the spec's minimum and maximum to the items' sum, then round once."""
    with exact_context():
        subtotal = sum((item.amount for item in items), ZERO)
        if spec.minimum is not None and subtotal < spec.minimum:
            items.append(AdjustmentItem("minimum", spec.minimum, spec.minimum - subtotal))
        elif spec.maximum is not None and subtotal > spec.maximum:
            items.append(AdjustmentItem("maximum", spec.maximum, spec.maximum - subtotal))
        total = sum((item.amount for item in items), ZERO)
    return Rating(
        model=spec.model,
        currency=currency,
        quantity=quantity,
        amount_unrounded=total,
        amount=round_line(total, currency),
        breakdown=tuple(items),
    )
