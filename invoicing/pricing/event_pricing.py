"""Models priced per event or per group: percentage and matrix.

Inputs are already validated and transformed; amounts are exact (see ``quantity_pricing``).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from .definitions import ZERO, MatrixPrice, PercentagePrice
from .errors import PricingError
from .rating import BreakdownItem, EventItem, GroupItem

HUNDRED = Decimal(100)
GroupKey = tuple[tuple[str, str | None], ...]


class Allowance:
    """The percentage model's free allowance, consumed event by event, in order.

    It is open while every configured limit has something left; ``free_units`` counts events
    and ``free_amount`` counts value. Returns the free part of each event's value.
    """

    def __init__(self, price: PercentagePrice) -> None:
        self.events_left = price.free_units
        self.value_left = price.free_amount

    def is_open(self) -> bool:
        if self.events_left is None and self.value_left is None:
            return False
        events_ok = self.events_left is None or self.events_left > 0
        value_ok = self.value_left is None or self.value_left > 0
        return events_ok and value_ok

    def take(self, value: Decimal) -> Decimal:
        """Consume the allowance for one event (call only while open); return its free part."""
        if self.events_left is not None:
            self.events_left -= 1
        if self.value_left is None:
            return value
        free = min(value, self.value_left)
        self.value_left -= free
        return free


def price_percentage(price: PercentagePrice, values: Sequence[Decimal]) -> list[BreakdownItem]:
    """One item per event: ``rate`` % of its non-free value plus ``fixed_amount``, clamped.

    An event whose whole value is free costs 0 and is not raised to ``min_per_event``.
    """
    allowance = Allowance(price)
    return [price_event(price, allowance, index, value) for index, value in enumerate(values)]


def price_event(
    price: PercentagePrice, allowance: Allowance, index: int, value: Decimal
) -> EventItem:
    """Price one event of a percentage price, consuming ``allowance`` (events in order)."""
    inside = allowance.is_open()
    free = allowance.take(value) if inside else ZERO
    charged = value - free
    if inside and not charged:
        return EventItem(index, value, free, ZERO, ZERO, None, ZERO)
    percentage_amount = charged * price.rate / HUNDRED
    amount = percentage_amount + price.fixed_amount
    clamped = None
    if price.min_per_event is not None and amount < price.min_per_event:
        amount, clamped = price.min_per_event, "minimum"
    elif price.max_per_event is not None and amount > price.max_per_event:
        amount, clamped = price.max_per_event, "maximum"
    return EventItem(index, value, free, percentage_amount, price.fixed_amount, clamped, amount)


def group_key(price: MatrixPrice, values: object, path: str) -> GroupKey:
    """The group's value for each of the spec's dimensions, as strings (None when absent).

    Other keys are ignored. Strings are kept; ints and booleans are spelled as in JSON
    (``2`` -> ``"2"``, ``True`` -> ``"true"``); other types cannot be matched.
    """
    if not isinstance(values, dict):
        raise PricingError("invalid_group", f"{path} must be an object.", {path: "not an object"})
    key: list[tuple[str, str | None]] = []
    for dimension in price.dimensions:
        raw = values.get(dimension)
        if raw is None or isinstance(raw, str):
            text = raw
        elif isinstance(raw, bool):
            text = "true" if raw else "false"
        elif isinstance(raw, int):
            text = str(raw)
        else:
            field = f"{path}.{dimension}"
            problem = "must be a string, an integer or a boolean to match a rate."
            raise PricingError("invalid_group", f"{field} {problem}", {field: problem})
        key.append((dimension, text))
    return tuple(key)


def price_matrix(
    price: MatrixPrice, groups: Sequence[tuple[GroupKey, Decimal]]
) -> list[BreakdownItem]:
    """Each group's units at the first matching rate's unit amount (else the default)."""
    items: list[BreakdownItem] = []
    for position, (key, units) in enumerate(groups):
        values = dict(key)
        rate_index = next(
            (
                index
                for index, rate in enumerate(price.rates)
                if all(values.get(dim) == wanted for dim, wanted in rate.match)
            ),
            None,
        )
        if rate_index is not None:
            unit_amount = price.rates[rate_index].unit_amount
        elif price.default_unit_amount is not None:
            unit_amount = price.default_unit_amount
        else:
            field = f"groups[{position}]"
            problem = f"{values} matches no rate and the price has no default_unit_amount."
            raise PricingError("no_matching_rate", f"{field} {problem}", {field: problem})
        items.append(GroupItem(key, units, unit_amount, rate_index, units * unit_amount))
    return items
