"""Frozen dataclasses for a validated price spec. Build them with ``parse_price_spec``.

Every value here has passed validation (see ``spec.py``): decimals are exact ``Decimal`` with at
most 12 places, amounts and quantities are non-negative, tiers are strictly increasing and the
last one is unbounded. ``PriceSpec.as_dict()`` gives the canonical JSON form back, and
``parse_price_spec(spec.as_dict()) == spec`` always holds.

Conventions shared by the models:

- A tier ``up_to`` is inclusive and cumulative: tiers ``[{up_to: 5}, {up_to: 10}, {up_to:
  null}]`` cover ``(0, 5]``, ``(5, 10]`` and ``(10, inf)``; fractional quantities split at the
  same boundaries. A quantity of 0 lies in the first tier.
- Percentage ``rate`` values are percents: ``"2.99"`` means 2.99 %, so ``0 <= rate <= 100``.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any, ClassVar

from billingsite.money import format_decimal

TRANSFORM_ROUNDINGS = ("none", "up", "down", "half_up")
PACKAGE_ROUNDINGS = ("up", "down")
ZERO = Decimal(0)


@dataclasses.dataclass(frozen=True)
class QuantityTransform:
    """Applied to a quantity before pricing: divide by ``divide_by``, then round.

    ``rounding`` is ``none`` (keep the exact quotient), ``up`` (ceiling), ``down`` (floor) or
    ``half_up``, at ``precision`` decimal places (0 = whole units; negative rounds to tens,
    hundreds...). Example: minutes billed per started hour = ``{divide_by: 60, rounding: up}``.
    """

    divide_by: Decimal = Decimal(1)
    rounding: str = "none"
    precision: int = 0


@dataclasses.dataclass(frozen=True)
class Tier:
    """One tier of a ``graduated`` or ``volume`` price; ``up_to`` is None for the last."""

    up_to: Decimal | None
    unit_amount: Decimal = ZERO
    flat_amount: Decimal = ZERO


@dataclasses.dataclass(frozen=True)
class PercentTier:
    """One tier of a ``graduated_percentage`` price: ``rate`` percent of the value in it."""

    up_to: Decimal | None
    rate: Decimal
    flat_amount: Decimal = ZERO


@dataclasses.dataclass(frozen=True)
class FlatPrice:
    """A recurring fee per period (times the quantity, normally 1); prorated by day."""

    model: ClassVar[str] = "flat"
    amount: Decimal


@dataclasses.dataclass(frozen=True)
class PerUnitPrice:
    """``quantity * unit_amount``."""

    model: ClassVar[str] = "per_unit"
    unit_amount: Decimal


@dataclasses.dataclass(frozen=True)
class PackagePrice:
    """Units beyond ``free_units`` are sold in packages of ``package_size``.

    ``rounding`` ``up`` charges a started package in full, ``down`` only complete packages.
    """

    model: ClassVar[str] = "package"
    package_size: Decimal
    package_amount: Decimal
    free_units: Decimal = ZERO
    rounding: str = "up"


@dataclasses.dataclass(frozen=True)
class GraduatedPrice:
    """Each unit priced at the tier it falls in; a tier's flat fee is charged once it is
    entered, and the first tier is always entered (its flat fee applies even at quantity 0)."""

    model: ClassVar[str] = "graduated"
    tiers: tuple[Tier, ...]


@dataclasses.dataclass(frozen=True)
class VolumePrice:
    """The whole quantity priced at the unit amount (plus flat fee) of the tier it reaches."""

    model: ClassVar[str] = "volume"
    tiers: tuple[Tier, ...]


@dataclasses.dataclass(frozen=True)
class GraduatedPercentagePrice:
    """Graduated tiers over a summed value (e.g. payment volume), each at its own percent."""

    model: ClassVar[str] = "graduated_percentage"
    tiers: tuple[PercentTier, ...]


@dataclasses.dataclass(frozen=True)
class PercentagePrice:
    """Per event: ``rate`` % of its value plus ``fixed_amount``, clamped per event.

    A free allowance covers the first events: ``free_units`` events and/or ``free_amount`` of
    value (None = that limit is not used). It ends as soon as ANY configured limit is used up.
    An event fully inside the allowance costs nothing (no fixed fee, no per-event minimum); an
    event that crosses ``free_amount`` pays on the part above it, plus its fixed fee.
    """

    model: ClassVar[str] = "percentage"
    rate: Decimal
    fixed_amount: Decimal = ZERO
    free_units: int | None = None
    free_amount: Decimal | None = None
    min_per_event: Decimal | None = None
    max_per_event: Decimal | None = None


@dataclasses.dataclass(frozen=True)
class MatrixRate:
    """A unit amount for the groups whose dimension values equal every entry of ``match``."""

    match: tuple[tuple[str, str], ...]
    unit_amount: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {"match": dict(self.match), "unit_amount": format_decimal(self.unit_amount)}


@dataclasses.dataclass(frozen=True)
class MatrixPrice:
    """Per-unit pricing that depends on group dimensions (region, model, ...).

    The first rate whose ``match`` fits a group wins; a group no rate fits uses
    ``default_unit_amount``, and is an error when there is none.
    """

    model: ClassVar[str] = "matrix"
    dimensions: tuple[str, ...]
    rates: tuple[MatrixRate, ...]
    default_unit_amount: Decimal | None = None


PricingModel = (
    FlatPrice
    | PerUnitPrice
    | PackagePrice
    | GraduatedPrice
    | VolumePrice
    | GraduatedPercentagePrice
    | PercentagePrice
    | MatrixPrice
)

MODELS: dict[str, type[PricingModel]] = {
    cls.model: cls
    for cls in (
        FlatPrice,
        PerUnitPrice,
        PackagePrice,
        GraduatedPrice,
        VolumePrice,
        GraduatedPercentagePrice,
        PercentagePrice,
        MatrixPrice,
    )
}


@dataclasses.dataclass(frozen=True)
class PriceSpec:
    """A validated price: the model's parameters plus the options every model takes.

    ``minimum``/``maximum`` clamp the line amount (before rounding); ``transform`` changes the
    quantity before pricing.
    """

    pricing: PricingModel
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    transform: QuantityTransform | None = None

    @property
    def model(self) -> str:
        return self.pricing.model

    def as_dict(self) -> dict[str, Any]:
        """Canonical JSON form: decimals as strings, unset optional fields left out."""
        data: dict[str, Any] = {"model": self.model, **_jsonable(self.pricing)}
        for key in ("minimum", "maximum", "transform"):
            value = getattr(self, key)
            if value is not None:
                data[key] = _jsonable(value)
        return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, MatrixRate):
        return value.as_dict()
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: _jsonable(getattr(value, field.name))
            for field in dataclasses.fields(value)
            if getattr(value, field.name) is not None or field.name == "up_to"
        }
    return value
