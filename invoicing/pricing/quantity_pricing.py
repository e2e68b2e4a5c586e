"""Quantity models: flat, per_unit, package, graduated, volume, graduated_percentage.

Each function takes a validated model and a non-negative, already-transformed quantity and
returns breakdown items whose amounts are exact (the caller runs them in ``exact_context``
and rounds the line once). Tier conventions are in ``definitions.py``.
"""

from __future__ import annotations

from decimal import Decimal

from .definitions import (
    ZERO,
    FlatPrice,
    GraduatedPercentagePrice,
    GraduatedPrice,
    PackagePrice,
    PerUnitPrice,
    VolumePrice,
)
from .rating import BreakdownItem, FlatItem, PackageItem, PercentTierItem, TierItem, UnitItem

HUNDRED = Decimal(100)


def price_flat(price: FlatPrice, quantity: Decimal) -> list[BreakdownItem]:
    return [FlatItem(price.amount, quantity, None, None, price.amount * quantity)]


def price_per_unit(price: PerUnitPrice, quantity: Decimal) -> list[BreakdownItem]:
    return [UnitItem(quantity, price.unit_amount, quantity * price.unit_amount)]


def price_package(price: PackagePrice, quantity: Decimal) -> list[BreakdownItem]:
    """Charge whole packages over the units beyond ``free_units`` (never for free units)."""
    chargeable = max(quantity - price.free_units, ZERO)
    whole, remainder = divmod(chargeable, price.package_size)
    packages = whole + 1 if price.rounding == "up" and remainder else whole
    return [
        PackageItem(
            units=quantity,
            free_units=price.free_units,
            package_size=price.package_size,
            packages=packages,
            package_amount=price.package_amount,
            amount=packages * price.package_amount,
        )
    ]


def price_graduated(price: GraduatedPrice, quantity: Decimal) -> list[BreakdownItem]:
    """Sum over the tiers the quantity enters: units in the tier * unit amount + flat amount.

    The first tier is always entered (its flat amount applies at quantity 0); a later tier is
    entered when the quantity exceeds the previous tier's ``up_to``.
    """
    items: list[BreakdownItem] = []
    lower = ZERO
    for index, tier in enumerate(price.tiers):
        if index and quantity <= lower:
            break
        top = quantity if tier.up_to is None else min(quantity, tier.up_to)
        units = max(top - lower, ZERO)
        amount = units * tier.unit_amount + tier.flat_amount
        items.append(
            TierItem(index, lower, tier.up_to, units, tier.unit_amount, tier.flat_amount, amount)
        )
        if tier.up_to is None:
            break
        lower = tier.up_to
    return items


def price_volume(price: VolumePrice, quantity: Decimal) -> list[BreakdownItem]:
    """The whole quantity at the first tier whose ``up_to`` is null or >= the quantity."""
    lower = ZERO
    for index, tier in enumerate(price.tiers):
        if tier.up_to is None or quantity <= tier.up_to:
            amount = quantity * tier.unit_amount + tier.flat_amount
            return [
                TierItem(
                    index, lower, tier.up_to, quantity, tier.unit_amount, tier.flat_amount, amount
                )
            ]
        lower = tier.up_to
    raise AssertionError("validated tiers always end with an unbounded tier")


def price_graduated_percentage(
    price: GraduatedPercentagePrice, value: Decimal
) -> list[BreakdownItem]:
    """Like ``price_graduated`` over a summed value, each tier charging ``rate`` percent."""
    items: list[BreakdownItem] = []
    lower = ZERO
    for index, tier in enumerate(price.tiers):
        if index and value <= lower:
            break
        top = value if tier.up_to is None else min(value, tier.up_to)
        in_tier = max(top - lower, ZERO)
        amount = in_tier * tier.rate / HUNDRED + tier.flat_amount
        items.append(
            PercentTierItem(index, lower, tier.up_to, in_tier, tier.rate, tier.flat_amount, amount)
        )
        if tier.up_to is None:
            break
        lower = tier.up_to
    return items
