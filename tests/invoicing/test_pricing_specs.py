"""Price spec validation: every problem is reported with its field path, and valid specs parse."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from billingsite.money import MoneyError, exact_context
from invoicing.pricing import (
    PriceSpecError,
    PricingError,
    parse_price_spec,
    prorate,
    rate_events,
    rate_flat,
    rate_groups,
    rate_quantity,
)
from invoicing.pricing.definitions import GraduatedPrice, MatrixRate, Tier
from invoicing.pricing.rating import AdjustmentItem, EventItem, GroupItem

D = Decimal
TIERS = [{"up_to": "10", "unit_amount": "1"}, {"up_to": None, "unit_amount": "0.5"}]


def errors_of(data: Any) -> dict[str, str]:
    with pytest.raises(PriceSpecError) as excinfo:
        parse_price_spec(data)
    assert excinfo.value.code == "invalid_price_spec"
    assert isinstance(excinfo.value, ValueError)
    first_path = next(iter(excinfo.value.details))
    assert first_path in excinfo.value.message
    return excinfo.value.details


@pytest.mark.parametrize(
    ("data", "path", "fragment"),
    [
        ([], "spec", "object"),
        ({}, "model", "required"),
        ({"model": "tiered"}, "model", "must be one of"),
        ({"model": "per_unit"}, "unit_amount", "required"),
        ({"model": "per_unit", "unit_amount": 0.05}, "unit_amount", "float"),
        ({"model": "per_unit", "unit_amount": "0.0000000000001"}, "unit_amount", "12 decimal"),
        ({"model": "per_unit", "unit_amount": "-1"}, "unit_amount", "negative"),
        ({"model": "per_unit", "unit_amount": "NaN"}, "unit_amount", "decimal string"),
        ({"model": "per_unit", "unit_amount": "1", "amount": "2"}, "amount", "not a field"),
        ({"model": "flat", "amount": True}, "amount", "boolean"),
        ({"model": "package", "package_size": "0", "package_amount": "5"}, "package_size", "> 0"),
        (
            {"model": "package", "package_size": "10", "package_amount": "5", "rounding": "near"},
            "rounding",
            "up, down",
        ),
        ({"model": "graduated", "tiers": []}, "tiers", "non-empty"),
        ({"model": "graduated"}, "tiers", "required"),
        ({"model": "graduated", "tiers": [{"up_to": "5", "unit_amount": "1"}]}, "tiers[0].up_to",
         "must be null"),
        ({"model": "volume", "tiers": [{"up_to": None, "unit_amount": "1"},
                                       {"up_to": None, "unit_amount": "2"}]},
         "tiers[0].up_to", "only on the last"),
        ({"model": "volume", "tiers": [{"up_to": "5", "unit_amount": "1"},
                                       {"up_to": "5", "unit_amount": "2"},
                                       {"up_to": None, "unit_amount": "3"}]},
         "tiers[1].up_to", "greater than"),
        ({"model": "volume", "tiers": [{"unit_amount": "1"}]}, "tiers[0].up_to", "required"),
        ({"model": "graduated", "tiers": [{"up_to": None}]}, "tiers[0].unit_amount", "required"),
        ({"model": "graduated", "tiers": [{"up_to": None, "unit_amount": "1", "rate": "2"}]},
         "tiers[0].rate", "not a field"),
        ({"model": "graduated", "tiers": ["x"]}, "tiers[0]", "object"),
        ({"model": "graduated_percentage", "tiers": [{"up_to": None, "rate": "101"}]},
         "tiers[0].rate", "at most 100"),
        ({"model": "percentage"}, "rate", "required"),
        ({"model": "percentage", "rate": "-0.5"}, "rate", "negative"),
        ({"model": "percentage", "rate": "1", "free_units": "2.5"}, "free_units", "whole"),
        ({"model": "percentage", "rate": "1", "min_per_event": "5", "max_per_event": "1"},
         "max_per_event", "min_per_event"),
        ({"model": "matrix", "rates": [{"match": {"region": "eu"}, "unit_amount": "1"}]},
         "dimensions", "required"),
        ({"model": "matrix", "dimensions": ["region", "region"], "default_unit_amount": "1"},
         "dimensions[1]", "repeats"),
        ({"model": "matrix", "dimensions": ["region"]}, "rates", "default_unit_amount"),
        ({"model": "matrix", "dimensions": ["region"],
          "rates": [{"match": {"zone": "eu"}, "unit_amount": "1"}]},
         "rates[0].match.zone", "not one of the dimensions"),
        ({"model": "matrix", "dimensions": ["tier"],
          "rates": [{"match": {"tier": 2}, "unit_amount": "1"}]},
         "rates[0].match.tier", "string"),
        ({"model": "matrix", "dimensions": ["r"],
          "rates": [{"match": {"r": "eu"}, "unit_amount": "1"},
                    {"match": {"r": "eu"}, "unit_amount": "2"}]},
         "rates[1].match", "repeats rates[0]"),
        ({"model": "matrix", "dimensions": ["r"], "rates": [{"match": {}, "unit_amount": "1"}]},
         "rates[0].match", "non-empty"),
        ({"model": "flat", "amount": "1", "minimum": "5", "maximum": "2"}, "maximum", "minimum"),
        ({"model": "flat", "amount": "1", "minimum": 1.5}, "minimum", "float"),
        ({"model": "per_unit", "unit_amount": "1", "transform": {"divide_by": "60"}},
         "transform.rounding", "required"),
        ({"model": "per_unit", "unit_amount": "1",
          "transform": {"divide_by": "0", "rounding": "up"}}, "transform.divide_by", "> 0"),
        ({"model": "per_unit", "unit_amount": "1",
          "transform": {"rounding": "none", "precision": 2}}, "transform.precision", "only"),
        ({"model": "per_unit", "unit_amount": "1",
          "transform": {"rounding": "up", "precision": 13}}, "transform.precision", "between"),
        ({"model": "per_unit", "unit_amount": "1", "transform": {"rounding": "ceil"}},
         "transform.rounding", "one of"),
        ({"model": "per_unit", "unit_amount": "1", "transform": "x"}, "transform", "object"),
    ],
)  # fmt: skip
def test_invalid_spec_names_the_field(data: Any, path: str, fragment: str) -> None:
    details = errors_of(data)
    assert path in details, details
    problem = details[path].replace("greater than 0", "> 0")
    assert fragment in problem, details


def test_every_problem_is_reported_at_once() -> None:
    details = errors_of(
        {
            "model": "graduated",
            "tiers": [
                {"up_to": "10", "unit_amount": 1.5},
                {"up_to": "5", "unit_amount": "0.0000000000001", "bogus": 1},
                {"up_to": "30", "unit_amount": "1"},
            ],
            "minimum": "-1",
            "transform": {"divide_by": "0"},
        }
    )
    assert set(details) == {
        "tiers[0].unit_amount",
        "tiers[1].up_to",
        "tiers[1].unit_amount",
        "tiers[1].bogus",
        "tiers[2].up_to",
        "minimum",
        "transform.divide_by",
        "transform.rounding",
    }


def test_valid_spec_parses_into_frozen_dataclasses_and_round_trips() -> None:
    data = {
        "model": "graduated",
        "tiers": [{"up_to": "5", "unit_amount": "7.00"}, {"up_to": None, "flat_amount": 3}],
        "maximum": "100",
        "transform": {"divide_by": "1000", "rounding": "up"},
    }
    spec = parse_price_spec(data)
    assert spec.model == "graduated"
    assert spec.pricing == GraduatedPrice(
        tiers=(Tier(D(5), D("7.00"), D(0)), Tier(None, D(0), D(3)))
    )
    assert spec.maximum == D(100)
    assert spec.transform is not None and spec.transform.rounding == "up"
    with pytest.raises(AttributeError):
        spec.maximum = D(1)  # type: ignore[misc]
    assert parse_price_spec(spec.as_dict()) == spec
    assert spec.as_dict()["tiers"][0] == {"up_to": "5", "unit_amount": "7.00", "flat_amount": "0"}


def test_matrix_match_is_canonical_and_round_trips() -> None:
    spec = parse_price_spec(
        {
            "model": "matrix",
            "dimensions": ["region", "model"],
            "rates": [{"match": {"region": "eu", "model": "large"}, "unit_amount": "0.03"}],
            "default_unit_amount": "0.01",
        }
    )
    assert spec.pricing.rates == (  # type: ignore[union-attr]
        MatrixRate(match=(("model", "large"), ("region", "eu")), unit_amount=D("0.03")),
    )
    assert parse_price_spec(spec.as_dict()) == spec


def test_ints_are_accepted_for_decimals() -> None:
    spec = parse_price_spec({"model": "package", "package_size": 100, "package_amount": 5})
    assert rate_quantity(spec, D(150), "USD").amount == D("10.00")


# --- rating inputs -----------------------------------------------------------------------


def test_rating_rejects_floats_negative_quantities_and_unknown_currencies() -> None:
    spec = parse_price_spec({"model": "per_unit", "unit_amount": "1"})
    with pytest.raises(PricingError) as excinfo:
        rate_quantity(spec, 1.5, "USD")  # type: ignore[arg-type]
    assert excinfo.value.code == "invalid_decimal"
    assert "quantity" in excinfo.value.details
    with pytest.raises(PricingError) as excinfo:
        rate_quantity(spec, D(-1), "USD")
    assert excinfo.value.code == "negative_quantity"
    with pytest.raises(MoneyError) as money_excinfo:
        rate_quantity(spec, D(1), "XYZ")
    assert money_excinfo.value.code == "unknown_currency"
    with pytest.raises(PricingError) as excinfo:
        rate_events(spec, [{"value": "1"}, {"value": 2.0}], "USD")
    assert "events[1].value" in excinfo.value.details


def test_models_refuse_the_wrong_kind_of_input() -> None:
    percentage = parse_price_spec({"model": "percentage", "rate": "1"})
    matrix = parse_price_spec({"model": "matrix", "dimensions": ["r"], "default_unit_amount": "1"})
    flat = parse_price_spec({"model": "flat", "amount": "10"})
    with pytest.raises(PricingError, match="per event"):
        rate_quantity(percentage, D(1), "USD")
    with pytest.raises(PricingError, match="per group"):
        rate_quantity(matrix, D(1), "USD")
    with pytest.raises(PricingError):
        rate_events(flat, [{"value": "1"}], "USD")
    with pytest.raises(PricingError):
        rate_groups(flat, [], "USD")
    with pytest.raises(PricingError):
        rate_flat(percentage, "USD", days_used=1, days_in_period=30)


def test_prorate_checks_days_and_keeps_the_exact_value() -> None:
    with exact_context():
        assert prorate(D("100.00"), 14, 31) == D(1400) / D(31)
    assert prorate(D("30"), 10, 30) == D(10)
    for used, days in ((-1, 30), (31, 30), (1, 0)):
        with pytest.raises(PricingError):
            prorate(D(1), used, days)
    with pytest.raises(PricingError):
        prorate(D(1), True, 30)  # type: ignore[arg-type]


def test_flat_proration_rounds_once() -> None:
    spec = parse_price_spec({"model": "flat", "amount": "100.00"})
    rating = rate_flat(spec, "EUR", days_used=14, days_in_period=31)
    assert rating.amount == D("45.16")
    assert rating.amount_unrounded > D("45.1612903225806451")
    assert rating.amount_unrounded < D("45.1612903225806452")
    assert rating.as_dict()["breakdown"][0]["days_used"] == 14


def test_minimum_and_maximum_are_breakdown_adjustments() -> None:
    spec = parse_price_spec(
        {"model": "per_unit", "unit_amount": "2", "minimum": "10", "maximum": "20"}
    )
    low, middle, high = (rate_quantity(spec, D(q), "USD") for q in ("1", "7", "50"))
    assert (low.amount, middle.amount, high.amount) == (D("10.00"), D("14.00"), D("20.00"))
    assert low.breakdown[-1] == AdjustmentItem("minimum", D(10), D(8))
    assert high.breakdown[-1] == AdjustmentItem("maximum", D(20), D(-80))
    assert len(middle.breakdown) == 1


def test_percentage_free_allowance_and_zero_value_events() -> None:
    spec = parse_price_spec(
        {"model": "percentage", "rate": "10", "fixed_amount": "1", "free_amount": "15"}
    )
    events = [{"value": v} for v in ("0", "10", "10", "10")]
    rating = rate_events(spec, events, "USD")
    items = [item for item in rating.breakdown if isinstance(item, EventItem)]
    # 0 and 10 are inside the allowance; the third event crosses it: 5 free, 5 charged.
    assert [item.free_value for item in items] == [D(0), D(10), D(5), D(0)]
    assert [item.amount for item in items] == [D(0), D(0), D("1.5"), D(2)]
    assert rating.amount == D("3.50")


def test_matrix_groups_first_match_default_and_errors() -> None:
    spec = parse_price_spec(
        {
            "model": "matrix",
            "dimensions": ["region", "model"],
            "rates": [
                {"match": {"region": "eu", "model": "large"}, "unit_amount": "3"},
                {"match": {"region": "eu"}, "unit_amount": "2"},
            ],
            "default_unit_amount": "1",
        }
    )
    rating = rate_groups(
        spec,
        [
            ({"region": "eu", "model": "large"}, D(1)),
            ({"region": "eu", "model": "small"}, D(1)),
            ({"region": "us", "model": "large", "extra": "ignored"}, D(1)),
        ],
        "USD",
    )
    groups = [item for item in rating.breakdown if isinstance(item, GroupItem)]
    assert [(g.rate_index, g.unit_amount) for g in groups] == [(0, D(3)), (1, D(2)), (None, D(1))]
    assert rating.amount == D("6.00")
    assert rating.as_dict()["breakdown"][0]["group"] == {"region": "eu", "model": "large"}
    by_events = rate_events(
        spec,
        [
            {"value": "1", "properties": {"region": "eu", "model": "large"}},
            {"value": "2", "properties": {"region": "eu", "model": "large"}},
            {"value": "4", "properties": {"region": "us"}},
        ],
        "USD",
    )
    assert by_events.amount == D("13.00")
    with pytest.raises(PricingError) as excinfo:
        rate_groups(spec, [({"region": "eu"}, D(1)), ({"region": "eu"}, D(2))], "USD")
    assert excinfo.value.code == "duplicate_group"
    strict = parse_price_spec(
        {
            "model": "matrix",
            "dimensions": ["r"],
            "rates": [{"match": {"r": "a"}, "unit_amount": "1"}],
        }
    )
    with pytest.raises(PricingError) as excinfo:
        rate_groups(strict, [({"r": "b"}, D(1))], "USD")
    assert excinfo.value.code == "no_matching_rate"
    assert "groups[0]" in excinfo.value.details


def test_rating_as_dict_is_json_ready() -> None:
    spec = parse_price_spec({"model": "volume", "tiers": TIERS})
    data = rate_quantity(spec, D("12"), "KWD").as_dict()
    assert data == {
        "model": "volume",
        "currency": "KWD",
        "quantity": "12",
        "amount": "6.000",
        "amount_unrounded": "6.0",
        "breakdown": [
            {
                "type": "tier",
                "tier_index": 1,
                "from_units": "10",
                "up_to": None,
                "units": "12",
                "unit_amount": "0.5",
                "flat_amount": "0",
                "amount": "6.0",
            }
        ],
    }


@pytest.mark.parametrize(
    ("transform", "quantity", "expected"),
    [
        ({"divide_by": "60", "rounding": "up"}, "150", "3"),
        ({"divide_by": "60", "rounding": "down"}, "150", "2"),
        ({"divide_by": "60", "rounding": "half_up"}, "150", "3"),  # 2.5 -> 3, not 2
        ({"rounding": "half_up", "precision": 2}, "0.125", "0.13"),
        ({"rounding": "half_up", "precision": -1}, "125", "130"),
        ({"rounding": "up", "precision": -2}, "101", "200"),
        ({"divide_by": "4", "rounding": "none"}, "10", "2.5"),
    ],
)
def test_quantity_transform(transform: dict[str, Any], quantity: str, expected: str) -> None:
    spec = parse_price_spec({"model": "per_unit", "unit_amount": "1", "transform": transform})
    rating = rate_quantity(spec, D(quantity), "USD")
    assert rating.quantity == D(expected)
    assert rating.as_dict()["quantity"] == expected
