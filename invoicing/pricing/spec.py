"""Parse and validate price spec JSON into ``PriceSpec`` (see ``definitions.py``).

``parse_price_spec`` reports EVERY problem it finds at once, as ``PriceSpecError.details``: a
dict from field path (``tiers[1].up_to``, ``transform.rounding``, ``rates[0].match.region``) to a
message. Decimals must arrive as strings (``"0.05"``) or ints; floats are refused because JSON
floats cannot carry prices exactly. Amounts, rates and quantities keep at most 12 places.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from billingsite.money import UNIT_PRICE_PLACES, MoneyError, parse_decimal

from .definitions import (
    MODELS,
    PACKAGE_ROUNDINGS,
    TRANSFORM_ROUNDINGS,
    ZERO,
    FlatPrice,
    GraduatedPercentagePrice,
    GraduatedPrice,
    MatrixPrice,
    MatrixRate,
    PackagePrice,
    PercentagePrice,
    PercentTier,
    PerUnitPrice,
    PriceSpec,
    PricingModel,
    QuantityTransform,
    Tier,
    VolumePrice,
)
from .errors import PriceSpecError

MAX_TIERS = 100
MAX_DIMENSIONS = 10
MAX_MATRIX_RATES = 1000
MAX_PRECISION = 12
HUNDRED = Decimal(100)
COMMON_FIELDS = ("model", "minimum", "maximum", "transform")
MODEL_FIELDS: dict[str, tuple[str, ...]] = {
    "flat": ("amount",),
    "per_unit": ("unit_amount",),
    "package": ("package_size", "package_amount", "free_units", "rounding"),
    "graduated": ("tiers",),
    "volume": ("tiers",),
    "graduated_percentage": ("tiers",),
    "percentage": (
        "rate",
        "fixed_amount",
        "free_units",
        "free_amount",
        "min_per_event",
        "max_per_event",
    ),
    "matrix": ("dimensions", "rates", "default_unit_amount"),
}


class _Reader:
    """Reads fields while collecting one message per field path (the first problem wins)."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def fail(self, path: str, problem: str) -> None:
        self.errors.setdefault(path, problem)

    def fields(self, data: Any, path: str, allowed: Sequence[str], what: str) -> Mapping[str, Any]:
        """Check ``data`` is an object with no unknown keys; return it (or {} when it isn't)."""
        if not isinstance(data, Mapping):
            self.fail(path, "must be an object.")
            return {}
        for key in data:
            if key not in allowed:
                self.fail(_join(path, str(key)), f"is not a field of {what}.")
        return data

    def decimal(
        self,
        data: Mapping[str, Any],
        key: str,
        path: str,
        *,
        default: Decimal | None = None,
        positive: bool = False,
        at_most: Decimal | None = None,
    ) -> Decimal:
        """A non-negative decimal (> 0 when ``positive``); required when ``default`` is None."""
        value = self.optional_decimal(data, key, path, positive=positive, at_most=at_most)
        if value is not None:
            return value
        if default is None:
            self.fail(_join(path, key), "is required.")
            return ZERO
        return default

    def optional_decimal(
        self,
        data: Mapping[str, Any],
        key: str,
        path: str,
        *,
        positive: bool = False,
        at_most: Decimal | None = None,
    ) -> Decimal | None:
        if data.get(key) is None:
            return None
        field = _join(path, key)
        try:
            value = parse_decimal(data[key], field, max_places=UNIT_PRICE_PLACES)
        except MoneyError as exc:
            self.fail(field, exc.details.get(field, exc.message))
            return None
        if positive and value <= 0:
            self.fail(field, "must be greater than 0.")
        elif value < 0:
            self.fail(field, "must not be negative.")
        elif at_most is not None and value > at_most:
            self.fail(field, f"must be at most {at_most}.")
        return value

    def integer(self, data: Mapping[str, Any], key: str, path: str, low: int, high: int) -> int:
        """An int (or a string of digits) in ``[low, high]``; 0 when absent."""
        value = data.get(key)
        if value is None:
            return 0
        field = _join(path, key)
        if isinstance(value, str) and value.lstrip("-").isdigit() and len(value) < 12:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(field, "must be a whole number.")
            return 0
        if not low <= value <= high:
            self.fail(field, f"must be between {low} and {high}.")
        return value

    def choice(
        self, data: Mapping[str, Any], key: str, path: str, choices: Sequence[str], default: str
    ) -> str:
        value = data.get(key)
        if value is None:
            return default
        if value not in choices:
            self.fail(_join(path, key), f"must be one of {', '.join(choices)}.")
            return default
        return str(value)

    def items(self, data: Mapping[str, Any], key: str, path: str, limit: int) -> list[Any]:
        """A required, non-empty JSON array of at most ``limit`` items."""
        value = data.get(key)
        field = _join(path, key)
        if value is None:
            self.fail(field, "is required.")
            return []
        if not isinstance(value, list | tuple) or not value:
            self.fail(field, "must be a non-empty list.")
            return []
        if len(value) > limit:
            self.fail(field, f"must have at most {limit} entries.")
            return []
        return list(value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def parse_price_spec(data: Mapping[str, Any]) -> PriceSpec:
    """Validate a price spec JSON object and return the frozen ``PriceSpec``.

    Raises ``PriceSpecError`` whose ``details`` name every invalid field: unknown model or
    fields, missing fields, floats, more than 12 decimal places, negative amounts, tiers not
    strictly increasing or not ending unbounded, rates outside 0..100, minimum above maximum...
    """
    reader = _Reader()
    if not isinstance(data, Mapping):
        raise PriceSpecError({"spec": "must be a JSON object."})
    model = data.get("model")
    if not isinstance(model, str) or model not in MODELS:
        problem = "is required." if model is None else f"must be one of {', '.join(MODELS)}."
        raise PriceSpecError({"model": problem})
    allowed = COMMON_FIELDS + MODEL_FIELDS[model]
    reader.fields(data, "", allowed, f"the {model!r} model")
    pricing = _MODEL_PARSERS[model](reader, data)
    minimum = reader.optional_decimal(data, "minimum", "")
    maximum = reader.optional_decimal(data, "maximum", "")
    if minimum is not None and maximum is not None and minimum > maximum:
        reader.fail("maximum", "must not be less than minimum.")
    transform = _transform(reader, data.get("transform"))
    if reader.errors:
        raise PriceSpecError(reader.errors)
    return PriceSpec(pricing=pricing, minimum=minimum, maximum=maximum, transform=transform)


def _transform(reader: _Reader, data: Any) -> QuantityTransform | None:
    if data is None:
        return None
    fields = reader.fields(data, "transform", ("divide_by", "rounding", "precision"), "transform")
    if isinstance(data, Mapping) and data.get("rounding") is None:
        reader.fail("transform.rounding", f"is required: one of {', '.join(TRANSFORM_ROUNDINGS)}.")
    rounding = reader.choice(fields, "rounding", "transform", TRANSFORM_ROUNDINGS, "none")
    precision = reader.integer(fields, "precision", "transform", -MAX_PRECISION, MAX_PRECISION)
    if rounding == "none" and precision:
        reader.fail("transform.precision", "only applies when rounding is up, down or half_up.")
    divide_by = reader.decimal(fields, "divide_by", "transform", default=Decimal(1), positive=True)
    return QuantityTransform(divide_by=divide_by, rounding=rounding, precision=precision)


def _flat(reader: _Reader, data: Mapping[str, Any]) -> PricingModel:
    return FlatPrice(amount=reader.decimal(data, "amount", ""))


def _per_unit(reader: _Reader, data: Mapping[str, Any]) -> PricingModel:
    return PerUnitPrice(unit_amount=reader.decimal(data, "unit_amount", ""))


def _package(reader: _Reader, data: Mapping[str, Any]) -> PricingModel:
    return PackagePrice(
        package_size=reader.decimal(data, "package_size", "", positive=True),
        package_amount=reader.decimal(data, "package_amount", ""),
        free_units=reader.decimal(data, "free_units", "", default=ZERO),
        rounding=reader.choice(data, "rounding", "", PACKAGE_ROUNDINGS, "up"),
    )


def _percentage(reader: _Reader, data: Mapping[str, Any]) -> PricingModel:
    free_units = None  # None: the allowance is not limited by a number of events
    if data.get("free_units") is not None:
        free_units = reader.integer(data, "free_units", "", 0, 10**12)
    price = PercentagePrice(
        rate=reader.decimal(data, "rate", "", at_most=HUNDRED),
        fixed_amount=reader.decimal(data, "fixed_amount", "", default=ZERO),
        free_units=free_units,
        free_amount=reader.optional_decimal(data, "free_amount", ""),
        min_per_event=reader.optional_decimal(data, "min_per_event", ""),
        max_per_event=reader.optional_decimal(data, "max_per_event", ""),
    )
    low, high = price.min_per_event, price.max_per_event
    if low is not None and high is not None and low > high:
        reader.fail("max_per_event", "must not be less than min_per_event.")
    return price


def _tier_bounds(reader: _Reader, raw_tiers: list[Any]) -> list[Decimal | None]:
    """Read every tier's ``up_to``: strictly increasing, only the last one null."""
    bounds: list[Decimal | None] = []
    last = len(raw_tiers) - 1
    for index, raw in enumerate(raw_tiers):
        path = f"tiers[{index}]"
        if not isinstance(raw, Mapping):
            bounds.append(None)  # reported as "must be an object" by the caller
            continue
        tier = raw
        if "up_to" not in tier:
            reader.fail(f"{path}.up_to", "is required (null for the last tier).")
        up_to = reader.optional_decimal(tier, "up_to", path)
        previous = next((b for b in reversed(bounds) if b is not None), None)
        if index == last and tier.get("up_to") is not None:
            reader.fail(f"{path}.up_to", "must be null: the last tier is unbounded.")
        elif index < last and "up_to" in tier and tier.get("up_to") is None:
            reader.fail(f"{path}.up_to", "may be null only on the last tier.")
        elif up_to is not None and previous is not None and up_to <= previous:
            reader.fail(f"{path}.up_to", f"must be greater than the previous tier's ({previous}).")
        bounds.append(up_to)
    return bounds


def _tiers(reader: _Reader, data: Mapping[str, Any]) -> tuple[Tier, ...]:
    raw_tiers = reader.items(data, "tiers", "", MAX_TIERS)
    bounds = _tier_bounds(reader, raw_tiers)
    tiers = []
    for index, (raw, up_to) in enumerate(zip(raw_tiers, bounds, strict=True)):
        path = f"tiers[{index}]"
        fields = reader.fields(raw, path, ("up_to", "unit_amount", "flat_amount"), "a tier")
        if fields and fields.get("unit_amount") is None and fields.get("flat_amount") is None:
            reader.fail(f"{path}.unit_amount", "is required (or give flat_amount).")
        tiers.append(
            Tier(
                up_to=up_to,
                unit_amount=reader.decimal(fields, "unit_amount", path, default=ZERO),
                flat_amount=reader.decimal(fields, "flat_amount", path, default=ZERO),
            )
        )
    return tuple(tiers)


def _graduated(reader: _Reader, data: Mapping[str, Any]) -> PricingModel:
    return GraduatedPrice(tiers=_tiers(reader, data))


def _volume(reader: _Reader, data: Mapping[str, Any]) -> PricingModel:
    return VolumePrice(tiers=_tiers(reader, data))


def _graduated_percentage(reader: _Reader, data: Mapping[str, Any]) -> PricingModel:
    raw_tiers = reader.items(data, "tiers", "", MAX_TIERS)
    bounds = _tier_bounds(reader, raw_tiers)
    tiers = []
    for index, (raw, up_to) in enumerate(zip(raw_tiers, bounds, strict=True)):
        path = f"tiers[{index}]"
        fields = reader.fields(raw, path, ("up_to", "rate", "flat_amount"), "a percentage tier")
        tiers.append(
            PercentTier(
                up_to=up_to,
                rate=reader.decimal(fields, "rate", path, at_most=HUNDRED),
                flat_amount=reader.decimal(fields, "flat_amount", path, default=ZERO),
            )
        )
    return GraduatedPercentagePrice(tiers=tuple(tiers))


def _matrix(reader: _Reader, data: Mapping[str, Any]) -> PricingModel:
    dimensions = _dimensions(reader, reader.items(data, "dimensions", "", MAX_DIMENSIONS))
    rates: list[MatrixRate] = []
    seen: dict[tuple[tuple[str, str], ...], int] = {}
    raw_rates = data.get("rates")
    if raw_rates is None or raw_rates == []:
        if data.get("default_unit_amount") is None:
            reader.fail("rates", "is required unless default_unit_amount is given.")
        raw_rates = []
    elif not isinstance(raw_rates, list) or len(raw_rates) > MAX_MATRIX_RATES:
        reader.fail("rates", f"must be a list of at most {MAX_MATRIX_RATES} rates.")
        raw_rates = []
    for index, raw in enumerate(raw_rates):
        path = f"rates[{index}]"
        fields = reader.fields(raw, path, ("match", "unit_amount"), "a matrix rate")
        match = _match(reader, fields.get("match"), f"{path}.match", dimensions)
        if match in seen:
            reader.fail(f"{path}.match", f"repeats rates[{seen[match]}].match.")
        seen.setdefault(match, index)
        rates.append(
            MatrixRate(match=match, unit_amount=reader.decimal(fields, "unit_amount", path))
        )
    default = reader.optional_decimal(data, "default_unit_amount", "")
    return MatrixPrice(dimensions=dimensions, rates=tuple(rates), default_unit_amount=default)


def _dimensions(reader: _Reader, raw: list[Any]) -> tuple[str, ...]:
    for index, name in enumerate(raw):
        if not isinstance(name, str) or not name or len(name) > 100:
            reader.fail(f"dimensions[{index}]", "must be a non-empty name of at most 100 chars.")
        elif raw.index(name) != index:
            reader.fail(f"dimensions[{index}]", "repeats an earlier dimension.")
    return tuple(name for name in raw if isinstance(name, str))


def _match(
    reader: _Reader, raw: Any, path: str, dimensions: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    """A rate's match: a non-empty object from dimension names to string values."""
    if not isinstance(raw, Mapping) or not raw:
        reader.fail(path, "must be a non-empty object of dimension values.")
        return ()
    for key, value in raw.items():
        if key not in dimensions:
            reader.fail(_join(path, str(key)), "is not one of the dimensions.")
        elif not isinstance(value, str):
            reader.fail(_join(path, key), 'must be a string (quote numbers, e.g. "2").')
    return tuple(sorted((str(key), str(value)) for key, value in raw.items()))


_MODEL_PARSERS: dict[str, Callable[[_Reader, Mapping[str, Any]], PricingModel]] = {
    "flat": _flat,
    "per_unit": _per_unit,
    "package": _package,
    "graduated": _graduated,
    "volume": _volume,
    "graduated_percentage": _graduated_percentage,
    "percentage": _percentage,
    "matrix": _matrix,
}
