"""One ladder per period: a usage charge whose price changes mid-period keeps climbing the same
tiers (hand-computed invoices), and splitting a period under an unchanged price changes the
total by no more than the per-line rounding (hypothesis)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billingsite.money import currency_exponent
from invoicing.models import Charge, Invoice
from invoicing.pricing import (
    PriceSpec,
    finish_ladder,
    ladder_quantity_step,
    parse_price_spec,
    rate_events,
    rate_groups,
    rate_quantity,
)
from invoicing.selectors.terms import ChargeSegment
from invoicing.selectors.usage_ladders import rate_ladder
from invoicing.services.billing import billing_run
from invoicing.services.contracts import AmendmentInput, contract_amend
from invoicing.usage import UsageReading
from tests.invoicing.factories import make_contract, make_version, per_day

D = Decimal
JAN = date(2026, 1, 1)
DAYS = 31


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


GRADUATED = {
    "model": "graduated",
    "tiers": [
        {"up_to": "1000", "unit_amount": "0.10", "flat_amount": "5"},
        {"up_to": "5000", "unit_amount": "0.05"},
        {"up_to": None, "unit_amount": "0.01"},
    ],
}
NEW_TIERS = [
    {"up_to": "1000", "unit_amount": "0.08", "flat_amount": "5"},
    {"up_to": "2000", "unit_amount": "0.04", "flat_amount": "10"},
    {"up_to": None, "unit_amount": "0.02"},
]


def _graduated_contract(price: dict[str, Any]):  # type: ignore[no-untyped-def]
    contract = make_contract(
        version=make_version(
            [
                {
                    "key": "calls",
                    "name": "Calls",
                    "kind": "usage",
                    "meter_key": "api_calls",
                    "price": price,
                }
            ]
        )
    )
    contract_amend(
        contract=contract,
        change=AmendmentInput(
            effective_date=date(2026, 1, 16),
            note="New tiers",
            overrides=({"charge_key": "calls", "kind": "tiers", "tiers": NEW_TIERS},),
        ),
    )
    return contract


@pytest.mark.django_db
def test_amendment_mid_period_continues_the_graduated_tiers():
    _graduated_contract(GRADUATED)
    billing_run(now=at(2026, 2, 3), usage=per_day(api_calls=100))  # 1500 + 1600 calls
    usage = list(Invoice.objects.get().lines.filter(kind="usage").order_by("position"))
    # Jan 1-15, old tiers, calls 0 -> 1500: 1000 x 0.10 + 5 flat + 500 x 0.05 = 130.00
    # Jan 16-31, new tiers, calls 1500 -> 3100 (NOT 0 -> 1600, which would restart the tiers
    # and charge 1000 x 0.08 + 5 + 600 x 0.04 + 10 = 119.00):
    #   tier 2 (1000, 2000]: 500 x 0.04 = 20 (its flat fee: tier 2 was entered before)
    #   tier 3 above 2000: 1100 x 0.02 = 22               -> 42.00
    assert [(ln.quantity, ln.amount.amount) for ln in usage] == [
        (D(1500), D("130.00")),
        (D(1600), D("42.00")),
    ]
    first, second = usage
    assert [(i["tier_index"], D(i["units"]), D(i["amount"])) for i in first.breakdown] == [
        (0, D(1000), D(105)),
        (1, D(500), D(25)),
    ]
    assert [
        (i["tier_index"], D(i["units"]), D(i["flat_amount"]), D(i["amount"]))
        for i in second.breakdown
    ] == [(1, D(500), D(0), D(20)), (2, D(1100), D(0), D(22))]
    assert first.details["ladder"] == {"segment": 1, "segments": 2, "from": "0", "to": "1500"}
    assert second.details["ladder"] == {"segment": 2, "segments": 2, "from": "1500", "to": "3100"}
    assert first.overrides == [] and second.overrides[0]["kind"] == "tiers"
    assert second.price["tiers"][1]["unit_amount"] == "0.04"
    assert Invoice.objects.get().total.amount == D("172.00")


@pytest.mark.django_db
def test_minimum_applies_once_per_period_on_the_last_segment():
    _graduated_contract({**GRADUATED, "minimum": "200"})
    billing_run(now=at(2026, 2, 3), usage=per_day(api_calls=100))
    usage = list(Invoice.objects.get().lines.filter(kind="usage").order_by("position"))
    # 130 + 42 = 172 < 200: one true-up of 28 on the last segment (per segment, the minimum
    # would have been charged twice: 200 + 200).
    assert [ln.amount.amount for ln in usage] == [D("130.00"), D("70.00")]
    assert usage[1].breakdown[-1] == {
        "type": "adjustment",
        "limit": "minimum",
        "threshold": "200",
        "amount": "28.00",
    }
    assert usage[1].details["ladder"]["period_minimum"] == "200"
    assert not any(i["type"] == "adjustment" for i in usage[0].breakdown)


def _volume(tiers: list[tuple[str | None, str]]) -> PriceSpec:
    return parse_price_spec(
        {
            "model": "volume",
            "tiers": [{"up_to": up_to, "unit_amount": unit} for up_to, unit in tiers],
        }
    )


def test_volume_prices_every_segment_at_the_tier_the_period_reaches():
    before = _volume([("1000", "1"), (None, "0.5")])
    after = _volume([("1000", "0.5"), (None, "0.25")])  # a 50 % discount from mid-period
    parts = [
        ladder_quantity_step(before, before=None, through=D(1000), final=D(1100), days=15),
        ladder_quantity_step(after, before=D(1000), through=D(1100), final=D(1100), days=16),
    ]
    # The period reaches tier 2: 1000 x 0.5 + 100 x 0.25. The incremental rule would give
    # 1000 + 0.5 x (550 - 1000) = 775, more than the 550 the undiscounted price charges.
    assert [r.amount for r in finish_ladder(parts, "USD")] == [D("500.00"), D("25.00")]


def test_per_line_rounding_is_the_only_difference_two_segments_can_make():
    spec = parse_price_spec({"model": "per_unit", "unit_amount": "0.005"})
    split = finish_ladder(
        [
            ladder_quantity_step(spec, before=None, through=D(1), final=D(2), days=15),
            ladder_quantity_step(spec, before=D(1), through=D(2), final=D(2), days=16),
        ],
        "USD",
    )
    assert [r.amount for r in split] == [D("0.01"), D("0.01")]  # 0.005 rounds up twice
    assert rate_quantity(spec, D(2), "USD").amount == D("0.01")  # = floor(2/2) cent apart


# --- the property --------------------------------------------------------------------------


def decimals(max_units: int, max_places: int) -> st.SearchStrategy[Decimal]:
    return st.builds(
        lambda n, p: Decimal(n).scaleb(-p), st.integers(0, max_units), st.integers(0, max_places)
    )


@st.composite
def tiers(draw: st.DrawFn, rate: bool = False) -> list[dict[str, Any]]:
    bounds = sorted(draw(st.sets(st.integers(1, 3000), min_size=0, max_size=3)))
    result = []
    for up_to in [*bounds, None]:
        tier: dict[str, Any] = {"up_to": None if up_to is None else str(up_to)}
        if rate:
            tier["rate"] = str(draw(decimals(100, 1)).min(D(100)))
        else:
            tier["unit_amount"] = str(draw(decimals(10**4, 4)))
        tier["flat_amount"] = str(draw(decimals(10**3, 2)))
        result.append(tier)
    return result


@st.composite
def price_specs(draw: st.DrawFn) -> dict[str, Any]:
    model = draw(
        st.sampled_from(
            [
                "per_unit",
                "package",
                "graduated",
                "volume",
                "graduated_percentage",
                "matrix",
                "percentage",
            ]
        )
    )
    spec: dict[str, Any] = {"model": model}
    if model == "per_unit":
        spec["unit_amount"] = str(draw(decimals(10**6, 6)))
    elif model == "package":
        spec.update(
            package_size=str(draw(st.integers(1, 500))),
            package_amount=str(draw(decimals(10**4, 2))),
            free_units=str(draw(st.integers(0, 300))),
            rounding=draw(st.sampled_from(["up", "down"])),
        )
    elif model in ("graduated", "volume"):
        spec["tiers"] = draw(tiers())
    elif model == "graduated_percentage":
        spec["tiers"] = draw(tiers(rate=True))
    elif model == "matrix":
        spec.update(
            dimensions=["region"],
            default_unit_amount=str(draw(decimals(10**4, 4))),
            rates=[{"match": {"region": "eu"}, "unit_amount": str(draw(decimals(10**4, 4)))}],
        )
    else:
        spec.update(
            rate=str(draw(decimals(100, 1)).min(D(100))), fixed_amount=str(draw(decimals(100, 2)))
        )
        if draw(st.booleans()):
            spec["free_units"] = draw(st.integers(0, 20))
        if draw(st.booleans()):
            spec["free_amount"] = str(draw(decimals(500, 1)))
        if draw(st.booleans()):
            low = draw(decimals(100, 2))
            spec.update(min_per_event=str(low), max_per_event=str(low + draw(decimals(500, 2))))
    if draw(st.booleans()):
        low = draw(decimals(10**4, 2))
        spec["minimum"] = str(low)
        if draw(st.booleans()):
            spec["maximum"] = str(low + draw(decimals(10**4, 2)))
    elif draw(st.booleans()):
        spec["maximum"] = str(draw(decimals(10**4, 2)))
    if draw(st.booleans()):
        # Divisors with terminating quotients keep the arithmetic exact (see the bound below).
        spec["transform"] = {
            "divide_by": str(draw(st.sampled_from([2, 4, 5, 8, 10, 1000]))),
            "rounding": draw(st.sampled_from(["none", "up", "down", "half_up"])),
        }
    return spec


class DailyUsage:
    """Usage given per UTC day of January: totals, per-region groups and event values."""

    def __init__(self, days: list[list[tuple[str, Decimal]]]) -> None:
        self.days = days

    def _in(self, start: datetime, end: datetime) -> list[tuple[str, Decimal]]:
        first = (start - at(2026, 1, 1)).days
        last = (end - at(2026, 1, 1)).days
        return [event for day in self.days[first:last] for event in day]

    def __call__(
        self,
        *,
        customer,
        meter_key: str,
        start: datetime,
        end: datetime,
        group_by: Sequence[str] | None = None,
    ) -> UsageReading:
        events = self._in(start, end)
        total = sum((value for _region, value in events), D(0))
        if not group_by:
            return UsageReading(total=total)
        groups: dict[str, Decimal] = {}
        for region, value in events:
            groups[region] = groups.get(region, D(0)) + value
        return UsageReading(
            total=total, groups=tuple(({"region": r}, v) for r, v in sorted(groups.items()))
        )

    def events(self, *, customer, meter_key: str, start: datetime, end: datetime):  # type: ignore[no-untyped-def]
        from tests.usage_sources import FixedEvents

        return FixedEvents(tuple(value for _region, value in self._in(start, end)))


def _ladder(spec: PriceSpec, cuts: list[int]) -> list[ChargeSegment]:
    charge = Charge(key="calls", name="Calls", kind="usage", meter_key="calls", price={})
    bounds = [JAN, *(JAN + timedelta(days=c) for c in cuts), JAN + timedelta(days=DAYS)]
    return [ChargeSegment(charge, lo, hi, spec, ()) for lo, hi in pairwise(bounds)]


def _utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


daily_events = st.lists(
    st.lists(st.tuples(st.sampled_from(["eu", "us"]), decimals(300, 2)), max_size=3),
    min_size=DAYS,
    max_size=DAYS,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    price_specs(),
    daily_events,
    st.sets(st.integers(1, DAYS - 1), max_size=6),
    st.sampled_from(["USD", "JPY", "KWD"]),
)
def test_splitting_a_period_under_one_price_changes_only_the_rounding(
    data: dict[str, Any], days: list[list[tuple[str, Decimal]]], cuts: set[int], currency: str
) -> None:
    """With an unchanged spec, n segments (n - 1 random cuts) total the unsplit line up to
    the rounding of each line. Exactly: the unrounded amounts sum to the unsplit one (the
    ladder telescopes), each line is rounded half-up once, so a line's error is in
    (-u/2, u/2] when its amount is >= 0 (u = the currency's minor unit) and the unsplit line's
    too; the difference of the totals is a multiple of u strictly inside +-(n+1)u/2, hence
    |split - unsplit| <= floor(n/2) * u. Only a cap (maximum) can make the last line negative
    (its error is then in [-u/2, u/2)): the bound becomes floor((n+1)/2) * u."""
    spec = parse_price_spec(data)
    usage = DailyUsage(days)
    whole = rate_ladder(_ladder(spec, []), customer=None, utc=_utc, usage=usage, currency=currency)
    split = rate_ladder(
        _ladder(spec, sorted(cuts)), customer=None, utc=_utc, usage=usage, currency=currency
    )
    n = len(split)
    assert n == len(cuts) + 1
    assert sum((s.rating.amount_unrounded for s in split), D(0)) == whole[0].rating.amount_unrounded
    assert sum((s.quantity for s in split), D(0)) == whole[0].quantity
    unit = D(1).scaleb(-currency_exponent(currency))
    difference = abs(sum((s.rating.amount for s in split), D(0)) - whole[0].rating.amount)
    signed = all(s.rating.amount_unrounded >= 0 for s in split)
    assert difference <= (n // 2 if signed else (n + 1) // 2) * unit
    # One segment is exactly what the single-line entry points compute.
    events = [{"value": value} for day in days for _region, value in day]
    if spec.model == "percentage":
        single = rate_events(spec, events, currency)
    elif spec.model == "matrix":
        single = rate_groups(
            spec,
            list(
                usage(
                    customer=None,
                    meter_key="calls",
                    start=at(2026, 1, 1),
                    end=at(2026, 2, 1),
                    group_by=["region"],
                ).groups
            ),
            currency,
        )
    else:
        single = rate_quantity(spec, whole[0].quantity, currency)
    assert whole[0].rating.amount_unrounded == single.amount_unrounded
    assert whole[0].rating.amount == single.amount
