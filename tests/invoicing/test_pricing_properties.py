"""Property tests (hypothesis) for the rating engine and the money rules it relies on."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from billingsite.money import (
    CURRENCY_EXPONENTS,
    MoneyError,
    currency_exponent,
    exact_context,
    from_minor_units,
    parse_decimal,
    round_line,
    sum_lines,
    to_minor_units,
)
from invoicing.pricing import (
    PriceSpec,
    PriceSpecError,
    apply_transform,
    parse_price_spec,
    rate_events,
    rate_groups,
    rate_quantity,
)
from invoicing.pricing.rating import EventItem, TierItem

D = Decimal
CURRENCIES = st.sampled_from(["USD", "EUR", "JPY", "KRW", "KWD", "BHD", "CLP", "GBP"])


def decimals(places: int, high: int = 10**6, low: int = 0) -> st.SearchStrategy[Decimal]:
    return st.decimals(
        min_value=low, max_value=high, places=places, allow_nan=False, allow_infinity=False
    )


quantities = st.one_of(decimals(0, 10**7), decimals(6, 10**5))
amounts = st.one_of(decimals(2, 1000), decimals(12, 10))


@st.composite
def tier_lists(draw: Any, max_tiers: int = 5) -> list[dict[str, Any]]:
    """Valid tiers: strictly increasing up_to, last null, non-negative amounts."""
    bounds = draw(st.lists(decimals(3, 10**5, low=0), unique=True, max_size=max_tiers - 1))
    tiers: list[dict[str, Any]] = []
    for up_to in [*sorted(bounds), None]:
        tiers.append(
            {
                "up_to": None if up_to is None else str(up_to),
                "unit_amount": str(draw(amounts)),
                "flat_amount": str(draw(st.sampled_from([D(0), D(0), draw(decimals(2, 100))]))),
            }
        )
    return tiers


def spec(**data: Any) -> PriceSpec:
    return parse_price_spec(data)


# --- tiered models -------------------------------------------------------------------------


@given(tier_lists(), quantities, quantities, CURRENCIES)
def test_graduated_total_never_decreases_with_quantity(
    tiers: list[dict[str, Any]], q1: Decimal, q2: Decimal, currency: str
) -> None:
    low, high = sorted((q1, q2))
    price = spec(model="graduated", tiers=tiers)
    assert (
        rate_quantity(price, low, currency).amount_unrounded
        <= rate_quantity(price, high, currency).amount_unrounded
    )


@given(tier_lists(), quantities)
def test_graduated_tier_units_add_up_to_the_quantity(
    tiers: list[dict[str, Any]], quantity: Decimal
) -> None:
    rating = rate_quantity(spec(model="graduated", tiers=tiers), quantity, "USD")
    items = [item for item in rating.breakdown if isinstance(item, TierItem)]
    assert sum(item.units for item in items) == quantity
    assert [item.tier_index for item in items] == list(range(len(items)))


@given(amounts, quantities, CURRENCIES)
def test_graduated_and_volume_with_one_tier_equal_per_unit(
    unit_amount: Decimal, quantity: Decimal, currency: str
) -> None:
    one_tier = [{"up_to": None, "unit_amount": str(unit_amount)}]
    per_unit = rate_quantity(
        spec(model="per_unit", unit_amount=str(unit_amount)), quantity, currency
    )
    for model in ("graduated", "volume"):
        tiered = rate_quantity(spec(model=model, tiers=one_tier), quantity, currency)
        assert tiered.amount_unrounded == per_unit.amount_unrounded == quantity * unit_amount
        assert tiered.amount == per_unit.amount


@given(tier_lists(), st.data())
def test_volume_prices_a_boundary_quantity_at_that_tier(
    tiers: list[dict[str, Any]], data: st.DataObject
) -> None:
    assume(len(tiers) > 1)
    index = data.draw(st.integers(0, len(tiers) - 2))
    price = spec(model="volume", tiers=tiers)
    boundary = D(tiers[index]["up_to"])
    (item,) = rate_quantity(price, boundary, "USD").breakdown
    assert isinstance(item, TierItem)
    assert item.tier_index == index
    assert item.amount == boundary * D(tiers[index]["unit_amount"]) + D(tiers[index]["flat_amount"])
    (above,) = rate_quantity(price, boundary + D("0.001"), "USD").breakdown
    assert isinstance(above, TierItem)
    assert above.tier_index == index + 1


@given(
    decimals(0, 1000, low=1),
    decimals(2, 100),
    decimals(0, 1000),
    quantities,
    st.sampled_from(["up", "down"]),
)
def test_package_never_charges_free_units(
    size: Decimal, package_amount: Decimal, free: Decimal, quantity: Decimal, rounding: str
) -> None:
    common = {
        "package_size": str(size),
        "package_amount": str(package_amount),
        "rounding": rounding,
    }
    with_free = rate_quantity(
        spec(model="package", free_units=str(free), **common), quantity, "USD"
    )
    chargeable = max(quantity - free, D(0))
    without = rate_quantity(spec(model="package", **common), chargeable, "USD")
    assert with_free.amount_unrounded == without.amount_unrounded
    if quantity <= free:
        assert with_free.amount_unrounded == 0
    (item,) = with_free.breakdown
    covered = item.packages * size  # type: ignore[union-attr]
    if rounding == "up":
        assert chargeable <= covered < chargeable + size
    else:
        assert chargeable - size < covered <= chargeable


@given(decimals(4, 100), decimals(2, 10**6))
def test_graduated_percentage_with_one_tier_is_a_plain_percentage(
    rate: Decimal, value: Decimal
) -> None:
    price = spec(model="graduated_percentage", tiers=[{"up_to": None, "rate": str(rate)}])
    with exact_context():
        assert rate_quantity(price, value, "USD").amount_unrounded == value * rate / 100


# --- percentage and matrix -----------------------------------------------------------------


@given(
    st.lists(decimals(2, 1000), max_size=8),
    decimals(3, 100),
    decimals(2, 5),
    st.integers(0, 5),
    decimals(2, 2000),
)
def test_percentage_free_allowance_only_ever_lowers_the_charge(
    values: list[Decimal], rate: Decimal, fixed: Decimal, free_units: int, free_amount: Decimal
) -> None:
    events = [{"value": str(value)} for value in values]
    base = {"model": "percentage", "rate": str(rate), "fixed_amount": str(fixed)}
    plain = rate_events(parse_price_spec(base), events, "USD")
    free = rate_events(
        parse_price_spec({**base, "free_units": free_units, "free_amount": str(free_amount)}),
        events,
        "USD",
    )
    assert free.amount_unrounded <= plain.amount_unrounded
    free_items = [item for item in free.breakdown if isinstance(item, EventItem)]
    assert sum(item.free_value for item in free_items) <= free_amount
    assert sum(1 for item in free_items if item.free_value and item.amount == 0) <= free_units


@given(
    st.lists(
        st.tuples(st.sampled_from(["eu", "us", "ap"]), st.sampled_from(["s", "l"]), quantities),
        max_size=10,
    )
)
def test_matrix_from_events_equals_matrix_from_summed_groups(
    rows: list[tuple[str, str, Decimal]],
) -> None:
    price = spec(
        model="matrix",
        dimensions=["region", "size"],
        rates=[
            {"match": {"region": "eu", "size": "l"}, "unit_amount": "0.3"},
            {"match": {"size": "l"}, "unit_amount": "0.2"},
        ],
        default_unit_amount="0.1",
    )
    events = [{"value": q, "properties": {"region": r, "size": s}} for r, s, q in rows]
    totals: dict[tuple[str, str], Decimal] = {}
    for region, size, quantity in rows:
        totals[(region, size)] = totals.get((region, size), D(0)) + quantity
    groups = [({"region": r, "size": s}, q) for (r, s), q in totals.items()]
    assert rate_events(price, events, "EUR") == rate_groups(price, groups, "EUR")


# --- every model: breakdown, minimum/maximum, single rounding ------------------------------


@st.composite
def any_spec(draw: Any) -> dict[str, Any]:
    model = draw(st.sampled_from(["flat", "per_unit", "package", "graduated", "volume"]))
    if model == "flat":
        data: dict[str, Any] = {"amount": str(draw(amounts))}
    elif model == "per_unit":
        data = {"unit_amount": str(draw(amounts))}
    elif model == "package":
        data = {"package_size": str(draw(decimals(0, 100, low=1))), "package_amount": "2.5"}
    else:
        data = {"tiers": draw(tier_lists())}
    return {"model": model, **data}


@given(any_spec(), quantities, decimals(2, 10**5), decimals(2, 10**5), CURRENCIES)
def test_minimum_and_maximum_clamp_and_breakdown_explains_the_amount(
    data: dict[str, Any], quantity: Decimal, a: Decimal, b: Decimal, currency: str
) -> None:
    minimum, maximum = sorted((a, b))
    base = rate_quantity(parse_price_spec(data), quantity, currency)
    clamped = rate_quantity(
        parse_price_spec({**data, "minimum": str(minimum), "maximum": str(maximum)}),
        quantity,
        currency,
    )
    assert clamped.amount_unrounded == min(max(base.amount_unrounded, minimum), maximum)
    for rating in (base, clamped):
        assert rating.amount_unrounded == sum(item.amount for item in rating.breakdown)
        assert rating.amount == round_line(rating.amount_unrounded, currency)
    assert parse_price_spec(parse_price_spec(data).as_dict()) == parse_price_spec(data)


@given(any_spec(), quantities, decimals(2, 3))
def test_limits_just_inside_the_amount_clamp_it_exactly(
    data: dict[str, Any], quantity: Decimal, offset: Decimal
) -> None:
    base = rate_quantity(parse_price_spec(data), quantity, "USD").amount_unrounded
    cent = D("0.01")
    maximum = (base - offset).quantize(cent, rounding=ROUND_FLOOR)
    minimum = (base + offset).quantize(cent, rounding=ROUND_CEILING)
    if maximum >= 0 and maximum < base:
        capped = rate_quantity(parse_price_spec({**data, "maximum": str(maximum)}), quantity, "USD")
        assert capped.amount_unrounded == maximum
    if minimum > base:
        raised = rate_quantity(parse_price_spec({**data, "minimum": str(minimum)}), quantity, "USD")
        assert raised.amount_unrounded == minimum


@given(quantities, decimals(0, 1000, low=1), st.integers(-2, 3))
def test_transform_up_none_down_are_ordered(
    quantity: Decimal, divide_by: Decimal, precision: int
) -> None:
    def transformed(rounding: str) -> Decimal:
        extra = {"precision": precision} if rounding != "none" else {}
        transform = {"divide_by": str(divide_by), "rounding": rounding, **extra}
        return apply_transform(
            spec(model="per_unit", unit_amount="1", transform=transform), quantity
        )

    step = D(1).scaleb(-precision)
    up, exact, down, half = (transformed(r) for r in ("up", "none", "down", "half_up"))
    assert down <= exact <= up
    assert up - down <= step
    assert down <= half <= up


# --- money rules ---------------------------------------------------------------------------


@given(st.decimals(places=8, min_value=-(10**12), max_value=10**12), CURRENCIES)
def test_round_line_is_idempotent_and_within_half_a_minor_unit(
    amount: Decimal, currency: str
) -> None:
    rounded = round_line(amount, currency)
    assert round_line(rounded, currency) == rounded
    half_unit = D(1).scaleb(-currency_exponent(currency)) / 2
    assert abs(rounded - amount) <= half_unit
    assert from_minor_units(to_minor_units(rounded, currency), currency) == rounded


@given(st.integers(0, 10**12), CURRENCIES, st.booleans())
def test_exact_half_minor_unit_rounds_away_from_zero(
    minor: int, currency: str, negative: bool
) -> None:
    exponent = currency_exponent(currency)
    tie = (D(minor) + D("0.5")).scaleb(-exponent)
    expected = from_minor_units(minor + 1, currency)
    if negative:
        tie, expected = -tie, -expected
    assert round_line(tie, currency) == expected


@given(st.lists(st.decimals(places=6, min_value=-(10**6), max_value=10**6), max_size=20))
def test_invoice_total_is_the_sum_of_rounded_lines(lines: list[Decimal]) -> None:
    for currency in ("USD", "JPY", "KWD"):
        rounded = [round_line(line, currency) for line in lines]
        total = sum_lines(rounded, currency)
        assert total == sum(rounded, D(0))
        assert to_minor_units(total, currency) == sum(to_minor_units(r, currency) for r in rounded)
        assert round_line(total, currency) == total  # no second rounding can change it


def test_exponents_of_the_reference_currencies() -> None:
    assert (currency_exponent("JPY"), currency_exponent("KWD"), currency_exponent("USD")) == (
        0,
        3,
        2,
    )
    assert set(CURRENCY_EXPONENTS.values()) <= {0, 2, 3, 4}


@given(st.integers(-(10**15), 10**15), CURRENCIES)
def test_minor_units_round_trip(minor: int, currency: str) -> None:
    assert to_minor_units(from_minor_units(minor, currency), currency) == minor


@given(st.floats())
def test_floats_are_rejected_everywhere(value: float) -> None:
    with pytest.raises(MoneyError):
        parse_decimal(value, "amount")
    with pytest.raises(PriceSpecError) as excinfo:
        parse_price_spec({"model": "per_unit", "unit_amount": value})
    assert "unit_amount" in excinfo.value.details
    price = spec(model="per_unit", unit_amount="1")
    with pytest.raises(ValueError):
        rate_quantity(price, value, "USD")  # type: ignore[arg-type]
