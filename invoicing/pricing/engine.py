"""The rating engine: price a quantity, events or groups with a validated ``PriceSpec``.

Entry points, by what the caller has:

- ``rate_quantity(spec, quantity, currency)`` — an aggregated quantity (flat, per_unit,
  package, graduated, volume, graduated_percentage).
- ``rate_flat(spec, currency, days_used=..., days_in_period=...)`` — a flat fee prorated by
  day (the contract starts or ends mid-period); ``prorate`` is the arithmetic behind it.
- ``rate_events(spec, events, currency)`` — events ``{"value", "properties"}``: percentage per
  event; matrix groups the events by the spec's dimensions (from ``properties``); the other
  usage models price the sum of the values.
- ``rate_groups(spec, [(group_values, quantity), ...], currency)`` — matrix, from per-group
  quantities (what a meter grouped by dimensions returns).

Invariants: no float anywhere (inputs go through ``parse_decimal``); everything is computed
exactly in ``exact_context()``; the quantity transform runs before pricing (per event for
percentage, per group for matrix); ``minimum``/``maximum`` clamp the line; the line is rounded
once (``billingsite.money.round_line``). Totals of several lines: ``sum_lines``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from billingsite.money import MoneyError, exact_context, normalize_currency, parse_decimal
from billingsite.money import sum_lines as sum_lines

from .definitions import (
    ZERO,
    FlatPrice,
    GraduatedPercentagePrice,
    GraduatedPrice,
    MatrixPrice,
    PackagePrice,
    PercentagePrice,
    PerUnitPrice,
    PriceSpec,
    PricingModel,
    VolumePrice,
)
from .errors import PricingError
from .event_pricing import GroupKey, group_key, price_matrix, price_percentage
from .quantity_pricing import (
    price_flat,
    price_graduated,
    price_graduated_percentage,
    price_package,
    price_per_unit,
    price_volume,
)
from .rating import BreakdownItem, FlatItem, Rating, finish_rating

_ROUNDING_MODES = {"up": ROUND_CEILING, "down": ROUND_FLOOR, "half_up": ROUND_HALF_UP}


def apply_transform(spec: PriceSpec, quantity: Decimal) -> Decimal:
    """The quantity the spec prices: ``quantity / divide_by``, rounded as the spec says."""
    transform = spec.transform
    if transform is None:
        return quantity
    with exact_context():
        divided = quantity / transform.divide_by
        if transform.rounding == "none":
            return divided
        step = Decimal(1).scaleb(-transform.precision)
        return divided.quantize(step, rounding=_ROUNDING_MODES[transform.rounding])


def prorate(amount: Decimal, days_used: int, days_in_period: int) -> Decimal:
    """``amount * days_used / days_in_period``, unrounded (the line is rounded once, later).

    ``0 <= days_used <= days_in_period`` and ``days_in_period > 0``. Days are whole calendar
    days of the half-open period in the customer's time zone; counting them is the caller's job.
    """
    for name, days in (("days_used", days_used), ("days_in_period", days_in_period)):
        if isinstance(days, bool) or not isinstance(days, int):
            raise PricingError("invalid_days", f"{name} must be an int.", {name: "not an int"})
    if days_in_period <= 0 or not 0 <= days_used <= days_in_period:
        problem = "must be between 0 and days_in_period (which must be positive)."
        raise PricingError("invalid_days", f"days_used {problem}", {"days_used": problem})
    amount = non_negative(amount, "amount")
    with exact_context():
        return amount * days_used / days_in_period


def rate_quantity(spec: PriceSpec, quantity: Decimal, currency: str) -> Rating:
    """Price an aggregated quantity (>= 0) and round the line once."""
    currency = normalize_currency(currency)
    priced = apply_transform(spec, non_negative(quantity, "quantity"))
    with exact_context():
        items = price_quantity_items(spec.pricing, priced)
    return finish_rating(spec, currency, priced, items)


def rate_flat(spec: PriceSpec, currency: str, *, days_used: int, days_in_period: int) -> Rating:
    """One period of a flat fee, prorated by ``days_used / days_in_period``."""
    currency = normalize_currency(currency)
    pricing = spec.pricing
    if not isinstance(pricing, FlatPrice):
        raise PricingError("wrong_model", f"rate_flat needs a flat price, not {spec.model}.")
    amount = prorate(pricing.amount, days_used, days_in_period)
    item = FlatItem(pricing.amount, Decimal(1), days_used, days_in_period, amount)
    return finish_rating(spec, currency, Decimal(1), [item])


def rate_events(spec: PriceSpec, events: Sequence[Mapping[str, Any]], currency: str) -> Rating:
    """Price a list of events ``{"value": decimal, "properties": {...}}`` in their order."""
    currency = normalize_currency(currency)
    values, properties = _read_events(events)
    pricing = spec.pricing
    if isinstance(pricing, PercentagePrice):
        transformed = [apply_transform(spec, value) for value in values]
        with exact_context():
            items = price_percentage(pricing, transformed)
            quantity = sum(transformed, ZERO)
        return finish_rating(spec, currency, quantity, items)
    if isinstance(pricing, MatrixPrice):
        totals: dict[GroupKey, Decimal] = {}
        with exact_context():
            for index, (value, props) in enumerate(zip(values, properties, strict=True)):
                key = group_key(pricing, props, f"events[{index}].properties")
                totals[key] = totals.get(key, ZERO) + value
        return _rate_matrix(spec, pricing, list(totals.items()), currency)
    if isinstance(pricing, FlatPrice):
        raise PricingError("wrong_model", "A flat price is not rated from events.")
    with exact_context():
        total = sum(values, ZERO)
    return rate_quantity(spec, total, currency)


def rate_groups(
    spec: PriceSpec, groups: Iterable[tuple[Mapping[str, Any], Decimal]], currency: str
) -> Rating:
    """Price per-group quantities with a matrix spec: ``[({"region": "eu"}, qty), ...]``.

    Only the spec's dimensions are read from each group (a missing one is None, which only
    a rate not mentioning that dimension, or the default, can match). Groups must be distinct.
    """
    currency = normalize_currency(currency)
    pricing = spec.pricing
    if not isinstance(pricing, MatrixPrice):
        raise PricingError("wrong_model", f"rate_groups needs a matrix price, not {spec.model}.")
    return _rate_matrix(spec, pricing, group_quantities(pricing, groups), currency)


def group_quantities(
    pricing: MatrixPrice, groups: Iterable[tuple[Mapping[str, Any], Decimal]]
) -> list[tuple[GroupKey, Decimal]]:
    """Each group's key for the spec's dimensions and its non-negative quantity; two groups
    with the same key are an error."""
    seen: dict[GroupKey, int] = {}
    pairs: list[tuple[GroupKey, Decimal]] = []
    for index, (values, quantity) in enumerate(groups):
        key = group_key(pricing, values, f"groups[{index}]")
        if key in seen:
            field = f"groups[{index}]"
            problem = f"repeats groups[{seen[key]}] for the spec's dimensions."
            raise PricingError("duplicate_group", f"{field} {problem}", {field: problem})
        seen[key] = index
        pairs.append((key, non_negative(quantity, f"groups[{index}].quantity")))
    return pairs


def _rate_matrix(
    spec: PriceSpec, pricing: MatrixPrice, pairs: list[tuple[GroupKey, Decimal]], currency: str
) -> Rating:
    transformed = [(key, apply_transform(spec, quantity)) for key, quantity in pairs]
    with exact_context():
        items = price_matrix(pricing, transformed)
        quantity = sum((units for _key, units in transformed), ZERO)
    return finish_rating(spec, currency, quantity, items)


def price_quantity_items(pricing: PricingModel, quantity: Decimal) -> list[BreakdownItem]:
    """Breakdown items of a quantity model (exact; run inside ``exact_context``)."""
    if isinstance(pricing, FlatPrice):
        return price_flat(pricing, quantity)
    if isinstance(pricing, PerUnitPrice):
        return price_per_unit(pricing, quantity)
    if isinstance(pricing, PackagePrice):
        return price_package(pricing, quantity)
    if isinstance(pricing, GraduatedPrice):
        return price_graduated(pricing, quantity)
    if isinstance(pricing, VolumePrice):
        return price_volume(pricing, quantity)
    if isinstance(pricing, GraduatedPercentagePrice):
        return price_graduated_percentage(pricing, quantity)
    if isinstance(pricing, PercentagePrice):
        raise PricingError("events_required", "A percentage price is rated per event.")
    raise PricingError("groups_required", "A matrix price is rated per group (rate_groups).")


def _read_events(events: Sequence[Mapping[str, Any]]) -> tuple[list[Decimal], list[Any]]:
    if not isinstance(events, list | tuple):
        raise PricingError("invalid_events", "events must be a list.", {"events": "not a list"})
    values: list[Decimal] = []
    properties: list[Any] = []
    for index, event in enumerate(events):
        if not isinstance(event, Mapping) or "value" not in event:
            field = f"events[{index}]"
            problem = 'must be an object with a "value".'
            raise PricingError("invalid_events", f"{field} {problem}", {field: problem})
        values.append(non_negative(event["value"], f"events[{index}].value"))
        properties.append(event.get("properties") or {})
    return values, properties


def non_negative(value: Any, field: str) -> Decimal:
    """A finite, non-negative Decimal from a Decimal, int or decimal string; never a float."""
    try:
        number = parse_decimal(value, field)
    except MoneyError as exc:
        raise PricingError(exc.code, exc.message, exc.details) from exc
    if number < 0:
        raise PricingError(
            "negative_quantity", f"{field} must not be negative.", {field: "must not be negative."}
        )
    return number
