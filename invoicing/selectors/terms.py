"""A contract's terms as they apply on each local date: plan version, charges, overrides.

``ContractTerms.load(contract)`` reads every effective-dated row once; ``charge_segments``
then splits a billing period wherever the price of one charge changes (contract start or end,
an amendment switching plan version, an override starting or ending) and merges neighbouring
segments whose applied price is identical, so an unrelated amendment never splits a line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from billingsite.errors import AppError
from billingsite.money import UNIT_PRICE_PLACES, exact_context, format_decimal
from invoicing.models import Charge, Contract, OverrideKind, PlanVersion, RateOverride
from invoicing.periods import Period, segment_bounds
from invoicing.pricing import PriceSpec, PriceSpecError, parse_price_spec

# Price-spec fields that are money (a multiplier scales them); quantities and limits are not.
PRICE_FIELDS = frozenset(
    {
        "amount",
        "unit_amount",
        "package_amount",
        "flat_amount",
        "fixed_amount",
        "minimum",
        "maximum",
        "default_unit_amount",
        "min_per_event",
        "max_per_event",
        "rate",
    }
)
_PLACES = Decimal(1).scaleb(-UNIT_PRICE_PLACES)


def _in_effect(row: Any, day: date) -> bool:
    return row.effective_from <= day and (row.effective_to is None or day < row.effective_to)


def scale_prices(data: Any, multiplier: Decimal) -> Any:
    """Multiply every money field of a spec (recursively, tiers and rates included).

    The product is rounded to 12 decimal places (the precision a unit price may carry)."""
    if isinstance(data, Mapping):
        return {
            key: _scale(value, multiplier)
            if key in PRICE_FIELDS and value is not None
            else scale_prices(value, multiplier)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [scale_prices(item, multiplier) for item in data]
    return data


def _scale(value: Any, multiplier: Decimal) -> Any:
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return value  # left for parse_price_spec to report
    with exact_context():
        product = (number * multiplier).quantize(_PLACES, rounding=ROUND_HALF_UP)
    return format_decimal(product.normalize() if product else Decimal(0))


def apply_override(price: Mapping[str, Any], override: RateOverride) -> dict[str, Any]:
    if override.kind == OverrideKind.OVERWRITE:
        return dict(override.price or {})
    if override.kind == OverrideKind.TIERS:
        return {**price, "tiers": override.tiers}
    return scale_prices(dict(price), Decimal(override.multiplier or 1))


def applied_spec(charge: Charge, overrides: Iterable[RateOverride]) -> tuple[PriceSpec, list[Any]]:
    """The charge's spec after the overrides (in order), and a description of each one."""
    price: dict[str, Any] = dict(charge.price)
    applied = []
    for override in overrides:
        price = apply_override(price, override)
        applied.append(override.describe())
    try:
        return parse_price_spec(price), applied
    except PriceSpecError as exc:
        raise AppError(
            "invalid_price",
            f"Charge {charge.key!r} after overrides: {exc.message}",
            details=exc.details,
        ) from exc


@dataclasses.dataclass(frozen=True)
class ChargeSegment:
    """One charge priced one way over ``[start_date, end_date)`` (local dates)."""

    charge: Charge
    start_date: date
    end_date: date
    spec: PriceSpec
    overrides: tuple[Any, ...]


@dataclasses.dataclass
class ContractTerms:
    contract: Contract
    versions: list[tuple[date, PlanVersion]]  # (effective from, version), ascending
    overrides: list[RateOverride]
    charges_by_version: dict[int, dict[str, Charge]]

    @classmethod
    def load(cls, contract: Contract) -> ContractTerms:
        versions = [(contract.start_date, contract.plan_version)]
        for amendment in contract.amendments.all():
            if amendment.plan_version is not None:
                versions.append((amendment.effective_date, amendment.plan_version))
        versions.sort(key=lambda item: item[0])
        charges = {
            version.pk: {charge.key: charge for charge in version.charges.all()}
            for _day, version in versions
        }
        overrides = sorted(contract.overrides.all(), key=lambda o: (o.effective_from, o.pk))
        return cls(contract, versions, overrides, charges)

    def version_on(self, day: date) -> PlanVersion:
        current = self.versions[0][1]
        for start, version in self.versions:
            if start <= day:
                current = version
        return current

    def active_range(self, period: Period) -> tuple[date, date] | None:
        start = max(self.contract.start_date, period.start_date)
        end = (
            period.end_date
            if self.contract.end_date is None
            else min(self.contract.end_date, period.end_date)
        )
        return (start, end) if start < end else None

    def charge_keys(self) -> list[str]:
        keys: list[str] = []
        for _day, version in self.versions:
            ordered = sorted(
                self.charges_by_version[version.pk].values(), key=lambda c: (c.position, c.key)
            )
            keys.extend(c.key for c in ordered if c.key not in keys)
        return keys

    def charge_segments(self, period: Period, key: str) -> list[ChargeSegment]:
        active = self.active_range(period)
        if active is None:
            return []
        cuts = [active[0], active[1]] + [day for day, _v in self.versions]
        for override in self.overrides:
            if override.charge_key == key:
                cuts.append(override.effective_from)
                if override.effective_to is not None:
                    cuts.append(override.effective_to)
        segments: list[ChargeSegment] = []
        for start, end in segment_bounds(period, cuts):
            if start < active[0] or end > active[1]:
                continue
            charge = self.charges_by_version[self.version_on(start).pk].get(key)
            if charge is None:
                continue
            in_effect = [o for o in self.overrides if o.charge_key == key and _in_effect(o, start)]
            spec, applied = applied_spec(charge, in_effect)
            previous = segments[-1] if segments else None
            if (
                previous is not None
                and previous.end_date == start
                and previous.spec == spec
                and previous.charge.kind == charge.kind
                and previous.charge.meter_key == charge.meter_key
            ):
                segments[-1] = dataclasses.replace(previous, end_date=end)
            else:
                segments.append(ChargeSegment(charge, start, end, spec, tuple(applied)))
        return segments
