"""Known answers from Stripe's and Lago's public docs, checked against Tally's engine.

The cases live in ``tests/fixtures/known-answers/pricing-cases.json`` (sources in
tests/fixtures/README.md) and are read at test time; no expected figure is written here.
Each case the engine can express has a handler below that turns the vendor's inputs into a
Tally price spec and asserts the expected figures exactly. Cases that belong elsewhere are in
``EXCLUDED`` with the reason, and expected keys a tested case does not check are in
``NOT_ASSERTED``. A meta test fails when the file has a case or key nobody accounted for.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from billingsite.money import currency_exponent, round_line, sum_lines, to_minor_units
from invoicing.pricing import (
    PriceSpec,
    Rating,
    apply_transform,
    parse_price_spec,
    rate_events,
    rate_flat,
    rate_quantity,
)
from invoicing.pricing.rating import AdjustmentItem, EventItem, PackageItem

D = Decimal
CASES_PATH = (
    Path(__file__).resolve().parents[1] / "fixtures" / "known-answers" / "pricing-cases.json"
)

EXCLUDED: dict[str, str] = {
    "stripe-proration-cancel-item-with-coupon": "coupon allocation across items is an "
    "invoice discount line, not a price spec",
    "stripe-legacy-metered-aggregate-usage": "sum/last/max aggregation is the meter's job "
    "(metering), not pricing",
    "stripe-customer-credit-balance": "customer balance is applied to invoices by the "
    "credit ledger",
    "stripe-billing-credits-application-order": "credit grant draw-down order belongs to "
    "the credit ledger",
    "stripe-currency-special-isk-huf": "Stripe's API encoding (ISK two-decimal, multiples "
    "of 100) differs from ISO 4217 and belongs to the Stripe gateway",
    "lago-dynamic-precise-total": "'dynamic' (each event carries its own price) is not a "
    "Tally price model",
    "lago-aggregation-tracked-pages": "count/sum/max/unique_count aggregation is metering",
    "lago-aggregation-latest": "latest/max/sum aggregation is metering",
    "lago-minimum-commitment-true-up": "a commitment across all of a plan's fees is a "
    "contract commit (invoice true-up), not one charge's minimum",
    "lago-wallet-invoice-order": "coupons, tax, credit notes and prepaid credits are "
    "applied at invoice level",
    "lago-coupon-once-carryover": "coupons belong to invoices and discounts",
    "lago-coupon-recurring-no-carryover": "coupons belong to invoices and discounts",
    "lago-progressive-billing-threshold": "progressive (threshold) billing is invoicing",
}

NOT_ASSERTED: dict[str, dict[str, str]] = {
    "stripe-currency-three-decimal-kwd": {
        "accepted_api_amounts": "Stripe's charge precision (last digit 0) is the gateway's",
        "rule": "prose restating accepted_api_amounts",
    },
}


@cache
def _cases() -> dict[str, dict[str, Any]]:
    cases = json.loads(CASES_PATH.read_text(encoding="utf-8"))
    return {case["id"]: case for case in cases}


class Expected:
    """The case's ``expected`` object, remembering which keys a handler asserted."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.used: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.used.add(key)
        return self.data[key]


Handler = Callable[[dict[str, Any], Expected], None]
HANDLERS: dict[str, Handler] = {}


def handles(*case_ids: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for case_id in case_ids:
            HANDLERS[case_id] = handler
        return handler

    return register


def spec(**data: Any) -> PriceSpec:
    return parse_price_spec(data)


def assert_money(actual: Decimal, expected: str | int) -> None:
    """Exact equality of value; ``expected`` comes from the JSON file."""
    assert isinstance(actual, Decimal)
    assert actual == D(str(expected)), f"{actual} != {expected}"


def tally_tiers(tiers: list[dict[str, Any]], amount_key: str = "unit_amount") -> list[dict]:
    """Stripe tiers are already ``up_to``; Lago's ``{from, to}`` become ``up_to = to``."""
    converted = []
    for tier in tiers:
        up_to = tier["up_to"] if "up_to" in tier else tier["to"]
        new = {"up_to": up_to, amount_key: tier.get(amount_key, tier.get("rate_percent"))}
        if "flat_amount" in tier:
            new["flat_amount"] = tier["flat_amount"]
        converted.append(new)
    return converted


@handles(
    "stripe-volume-typographic",
    "stripe-graduated-typographic",
    "stripe-graduated-no-flat-q6-usd",
    "lago-volume-flat-fee",
    "lago-api-graduated-flat-spec",
)
def check_tiered_totals(case: dict[str, Any], expected: Expected) -> None:
    inputs = case["inputs"]
    price = spec(model=case["model"], tiers=tally_tiers(inputs["tiers"]))
    if "total_by_quantity" in expected.data:
        totals = expected["total_by_quantity"]
    else:
        totals = {inputs.get("quantity", inputs.get("units")): expected["total"]}
    assert totals
    for quantity, total in totals.items():
        rating = rate_quantity(price, D(quantity), inputs["currency"])
        assert_money(rating.amount, total)


@handles("stripe-transform-quantity-round-up-minutes", "stripe-transform-quantity-per-5-users")
def check_transform_quantity(case: dict[str, Any], expected: Expected) -> None:
    inputs = case["inputs"]
    transform = {
        "divide_by": str(inputs["transform_quantity"]["divide_by"]),
        "rounding": inputs["transform_quantity"]["round"],
    }
    per_unit = spec(model="per_unit", unit_amount=inputs["unit_amount"], transform=transform)
    # The same price as a package: one package per divide_by units, started packages charged.
    package = spec(
        model="package",
        package_size=str(inputs["transform_quantity"]["divide_by"]),
        package_amount=inputs["unit_amount"],
        rounding=inputs["transform_quantity"]["round"],
    )
    if "users" in inputs:
        billed = expected["billed_quantity_by_users"]
        totals = expected["total_by_users"]
    else:
        billed = {inputs["usage_minutes"]: expected["billed_quantity"]}
        totals = {inputs["usage_minutes"]: expected["total"]}
    assert set(billed) == set(totals)
    for quantity in billed:
        rating = rate_quantity(per_unit, D(quantity), inputs["currency"])
        assert rating.quantity == D(billed[quantity])
        assert_money(rating.amount, totals[quantity])
        assert_money(
            rate_quantity(package, D(quantity), inputs["currency"]).amount, totals[quantity]
        )


@handles("stripe-decimal-unit-amount-line-rounding")
def check_decimal_unit_amount(case: dict[str, Any], expected: Expected) -> None:
    inputs = case["inputs"]
    currency = inputs["currency"]
    exponent = currency_exponent(currency)
    unit_amount = D(inputs["unit_amount_decimal_minor_units"]).scaleb(-exponent)
    rating = rate_quantity(
        spec(model="per_unit", unit_amount=str(unit_amount)), D(inputs["quantity"]), currency
    )
    assert rating.amount_unrounded.scaleb(exponent) == D(expected["line_amount_unrounded_minor"])
    assert to_minor_units(rating.amount, currency) == int(expected["line_amount_minor"])
    assert_money(rating.amount, expected["line_amount"])


@handles("stripe-graduated-flat-plus-subcent-overage")
def check_subcent_overage(case: dict[str, Any], expected: Expected) -> None:
    inputs = case["inputs"]
    price = spec(model=inputs["tiers_mode"], tiers=tally_tiers(inputs["tiers"]))
    rating = rate_quantity(price, D(inputs["quantity"]), inputs["currency"])
    assert rating.amount_unrounded == D(expected["line_amount_unrounded"])
    assert_money(rating.amount, expected["line_amount"])


@handles("stripe-fixed-fee-plus-overage")
def check_fixed_fee_plus_overage(case: dict[str, Any], expected: Expected) -> None:
    inputs = case["inputs"]
    included = {
        "up_to": inputs["included_units"],
        "unit_amount": "0",
        "flat_amount": inputs["flat_fee_monthly"],
    }
    tiers = [included, {"up_to": None, "unit_amount": inputs["overage_unit_amount"]}]
    rating = rate_quantity(spec(model="graduated", tiers=tiers), D(inputs["usage"]), "USD")
    flat_tier, overage_tier = rating.breakdown
    assert_money(flat_tier.amount, expected["flat_fee"])
    assert_money(overage_tier.amount, expected["overage"])
    assert_money(rating.amount, expected["total"])


def _prorated(amount: str, fraction: Fraction, currency: str) -> Rating:
    """A fraction of a period, expressed as days_used / days_in_period."""
    price = spec(model="flat", amount=amount)
    return rate_flat(
        price, currency, days_used=fraction.numerator, days_in_period=fraction.denominator
    )


@handles("stripe-proration-upgrade-halfway")
def check_proration_upgrade(case: dict[str, Any], expected: Expected) -> None:
    inputs = case["inputs"]
    currency = inputs["currency"]
    fraction = Fraction(inputs["fraction_of_period_remaining"])
    credit = -_prorated(inputs["old_price_monthly"], fraction, currency).amount
    debit = _prorated(inputs["new_price_monthly"], fraction, currency).amount
    assert [line["amount"] for line in expected["lines"]] == [str(credit), str(debit)]
    assert_money(sum_lines([credit, debit], currency), expected["net"])


@handles("stripe-proration-classic-vs-flexible-downgrade")
def check_proration_billing_modes(case: dict[str, Any], expected: Expected) -> None:
    inputs = case["inputs"]
    currency = inputs["currency"]
    events = inputs["events"]
    change = events[-1]
    fraction = Fraction(inputs[f"fraction_remaining_at_{change['date']}"])
    current_price = events[-2]["price_monthly"]  # classic credits the price in effect
    billed = [e for e in events[:-1] if e.get("proration_behavior", "always_invoice") != "none"]
    last_billed_price = billed[-1]["price_monthly"]  # flexible credits what was billed
    for mode, credited in (("classic", current_price), ("flexible", last_billed_price)):
        credit = -_prorated(credited, fraction, currency).amount
        debit = _prorated(change["price_monthly"], fraction, currency).amount
        figures = expected[f"billing_mode_{mode}"]
        assert figures["lines"] == [str(credit), str(debit)]
        assert_money(sum_lines([credit, debit], currency), figures["invoice_total"])


@handles("lago-upgrade-arrears-proration")
def check_upgrade_in_arrears(case: dict[str, Any], expected: Expected) -> None:
    inputs = case["inputs"]
    start = date.fromisoformat(inputs["subscription_start"])
    upgrade = date.fromisoformat(inputs["upgrade_date"])
    days_in_period = inputs["days_in_period"]
    end = start + timedelta(days=days_in_period)  # half-open [start, end)
    first = expected[f"invoice_{upgrade.isoformat()}"]
    second = expected[f"invoice_{(end - timedelta(days=1)).isoformat()}"]
    assert first["plan_a_days"] == (upgrade - start).days
    assert second["plan_b_days"] == (end - upgrade).days
    for price, days, figures in (
        (inputs["plan_a_monthly"], first["plan_a_days"], first),
        (inputs["plan_b_monthly"], second["plan_b_days"], second),
    ):
        rating = rate_flat(
            spec(model="flat", amount=price),
            inputs["currency"],
            days_used=days,
            days_in_period=days_in_period,
        )
        assert_money(rating.amount, figures["amount"])


@handles("lago-charge-fully-billed-seat")
def check_fully_billed_seat(case: dict[str, Any], expected: Expected) -> None:
    inputs = case["inputs"]
    assert inputs["prorated"] is False  # a non-prorated fee is charged whole
    rating = rate_quantity(spec(model="flat", amount=inputs["unit_amount"]), D(1), "USD")
    assert_money(rating.amount, expected["total"])


@handles("stripe-currency-minor-units-zero-decimal")
def check_minor_units(case: dict[str, Any], expected: Expected) -> None:
    minor = expected["api_amount_minor_units"]
    assert len(minor) == len(case["inputs"]["charges"])
    for charge in case["inputs"]["charges"]:
        amount = D(charge["amount"])
        assert to_minor_units(amount, charge["currency"]) == minor[charge["currency"]]


@handles("stripe-currency-three-decimal-kwd")
def check_three_decimal(case: dict[str, Any], expected: Expected) -> None:
    inputs = case["inputs"]
    amount = round_line(D(inputs["amount"]), inputs["currency"])
    assert to_minor_units(amount, inputs["currency"]) == expected["minor_units_exact"]


@handles("lago-fee-rounding")
def check_fee_rounding(case: dict[str, Any], expected: Expected) -> None:
    inputs = case["inputs"]
    fees = [D(fee) for fee in inputs["fee_amounts_unrounded"]]
    cents = [
        to_minor_units(round_line(fee, inputs["currency"]), inputs["currency"]) for fee in fees
    ]
    precise = [fee.scaleb(currency_exponent(inputs["currency"])) for fee in fees]
    assert cents == expected["amount_cents"]
    assert precise == [D(value) for value in expected["precise_amount_cents"]]


@handles("lago-metric-rounding")
def check_metric_rounding(case: dict[str, Any], expected: Expected) -> None:
    functions = {"round": "half_up", "ceil": "up", "floor": "down"}
    results = expected["results"]
    assert len(results) == len(case["inputs"]["cases"])
    for rounding, result in zip(case["inputs"]["cases"], results, strict=True):
        transform = {
            "rounding": functions[rounding["function"]],
            "precision": rounding["precision"] or 0,
        }
        price = spec(model="per_unit", unit_amount="1", transform=transform)
        assert apply_transform(price, D(case["inputs"]["value"])) == D(result)


@handles("lago-standard")
def check_standard(case: dict[str, Any], expected: Expected) -> None:
    inputs = case["inputs"]
    price = spec(model="per_unit", unit_amount=inputs["unit_amount"])
    assert_money(
        rate_quantity(price, D(inputs["units"]), inputs["currency"]).amount, expected["total"]
    )


@handles("lago-package-free-units", "lago-package-spec")
def check_package(case: dict[str, Any], expected: Expected) -> None:
    inputs = case["inputs"]
    scenarios = inputs.get("scenarios") or [inputs]
    totals = expected["totals"] if "totals" in expected.data else [expected["total"]]
    assert len(scenarios) == len(totals)
    for scenario, total in zip(scenarios, totals, strict=True):
        price = spec(
            model="package",
            package_size=inputs["package_size"],
            package_amount=inputs["package_amount"],
            free_units=scenario["free_units"],
        )
        rating = rate_quantity(price, D(scenario["units"]), inputs["currency"])
        assert_money(rating.amount, total)
        if "billed_packages" in expected.data:
            (item,) = rating.breakdown
            assert isinstance(item, PackageItem)
            assert item.packages == D(expected["billed_packages"])


@handles("lago-graduated-percentage")
def check_graduated_percentage(case: dict[str, Any], expected: Expected) -> None:
    inputs = case["inputs"]
    price = spec(model="graduated_percentage", tiers=tally_tiers(inputs["tiers"], "rate"))
    currency = inputs["currency"]
    events = [{"value": value} for value in inputs["transactions"]]
    assert_money(rate_events(price, events, currency).amount, expected["total"])
    # Per transaction: what the running total adds (nothing is charged before any event).
    running, charged = D(0), D(0)
    increments = []
    for value in inputs["transactions"]:
        running += D(value)
        total = rate_quantity(price, running, currency).amount_unrounded
        increments.append(total - charged)
        charged = total
    assert increments == [D(value) for value in expected["per_transaction"]]


def _percentage(inputs: dict[str, Any], *, with_limits: bool = True) -> PriceSpec:
    data = {
        "model": "percentage",
        "rate": inputs["rate_percent"],
        "fixed_amount": inputs.get("fixed_amount", inputs.get("fixed_fee_per_event")),
        "free_units": inputs.get("free_units_per_events"),
        "free_amount": inputs.get("free_units_per_total_aggregation"),
    }
    if with_limits:
        data["min_per_event"] = inputs.get("per_transaction_min_amount")
        data["max_per_event"] = inputs.get("per_transaction_max_amount")
    return parse_price_spec(data)


@handles(
    "lago-percentage-free-units",
    "lago-percentage-min-max-per-transaction",
    "lago-percentage-min-max-with-fixed-fee",
)
def check_percentage(case: dict[str, Any], expected: Expected) -> None:
    inputs = case["inputs"]
    values = inputs.get("events") or inputs["transactions"]
    events = [{"value": value} for value in values]
    rating = rate_events(_percentage(inputs), events, inputs["currency"])
    per_event = [item.amount for item in rating.breakdown if isinstance(item, EventItem)]
    key = "per_event" if "per_event" in expected.data else "charges_per_transaction"
    assert per_event == [D(value) for value in expected[key]]
    if "total_unrounded" in expected.data:
        assert rating.amount_unrounded == D(expected["total_unrounded"])
    if "total" in expected.data:
        assert_money(rating.amount, expected["total"])
    if "total_without_min_max" in expected.data:
        plain = rate_events(_percentage(inputs, with_limits=False), events, inputs["currency"])
        assert plain.amount_unrounded == D(expected["total_without_min_max"])


@handles("lago-spending-minimum-true-up")
def check_spending_minimum(case: dict[str, Any], expected: Expected) -> None:
    inputs = case["inputs"]
    price = spec(
        model="per_unit", unit_amount=inputs["unit_amount"], minimum=inputs["charge_min_amount"]
    )
    units = D(inputs["usage_amount"]) / D(inputs["unit_amount"])
    rating = rate_quantity(price, units, inputs["currency"])
    usage_item, true_up = rating.breakdown
    assert isinstance(true_up, AdjustmentItem)
    assert true_up.limit == "minimum"
    assert_money(usage_item.amount, expected["charge_fee"])
    assert_money(true_up.amount, expected["true_up_fee"])
    assert_money(rating.amount, expected["charge_total"])


@pytest.mark.parametrize("case_id", sorted(HANDLERS))
def test_known_answer(case_id: str) -> None:
    cases = _cases()
    assert case_id in cases, f"{case_id} has a handler but is not in the known-answer file"
    case = cases[case_id]
    expected = Expected(case["expected"])
    HANDLERS[case_id](case, expected)
    skipped = set(NOT_ASSERTED.get(case_id, {}))
    unchecked = set(case["expected"]) - expected.used - skipped
    assert not unchecked, f"{case_id}: expected keys never asserted: {sorted(unchecked)}"
    assert not expected.used & skipped, "a key is both asserted and listed as not asserted"


def test_every_known_answer_case_is_tested_or_excluded_with_a_reason() -> None:
    ids = set(_cases())
    assert not set(HANDLERS) & set(EXCLUDED), "a case cannot be both tested and excluded"
    unaccounted = ids - set(HANDLERS) - set(EXCLUDED)
    assert not unaccounted, f"new known-answer cases to test or exclude: {sorted(unaccounted)}"
    assert not set(EXCLUDED) - ids, "EXCLUDED names cases that are not in the file"
    assert all(reason.strip() for reason in EXCLUDED.values())
    assert set(NOT_ASSERTED) <= set(HANDLERS)
