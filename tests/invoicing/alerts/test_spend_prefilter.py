"""The spend pre-filter (invoicing.alerts.spend) never hides a crossing.

1. The bound itself, against the rating engine: for random prices of the covered models (with
   transforms, minimums and maximums) and any quantity q and growth dq, the rated amount grows
   by at most ``max_increase(spec, dq)`` plus one minor unit of rounding.
2. End to end: a customer on a per-call plan with a platform fee and random spend thresholds
   (plain and recurring), random batches of calls, batched evaluations (the pre-filter on):
   exactly the steps the spend reached fire, once, while most evaluations skip the
   computation.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from itertools import count

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billingsite.money import currency_exponent
from invoicing.alerts import chunk as chunk_module
from invoicing.alerts import spend
from invoicing.alerts.models import AlertTrigger
from invoicing.alerts.services import alert_create, alerts_evaluate_pending
from invoicing.pricing import parse_price_spec, rate_quantity
from tests.factories import CustomerFactory
from tests.invoicing.alerts.world import at, meter, send
from tests.invoicing.factories import make_contract, make_version

amounts = st.decimals(min_value=0, max_value=50, places=3).map(str)
positive = st.decimals(min_value=Decimal("0.5"), max_value=50, places=2).map(str)


@st.composite
def specs(draw):  # type: ignore[no-untyped-def]
    model = draw(st.sampled_from(["per_unit", "graduated", "package", "flat"]))
    if model == "per_unit":
        spec = {"model": model, "unit_amount": draw(amounts)}
    elif model == "flat":
        spec = {"model": model, "amount": draw(amounts)}
    elif model == "package":
        spec = {
            "model": model,
            "package_size": draw(positive),
            "package_amount": draw(amounts),
            "free_units": draw(st.sampled_from(["0", "3", "10"])),
            "rounding": draw(st.sampled_from(["up", "down"])),
        }
    else:
        bounds = sorted(set(draw(st.lists(st.integers(1, 200), min_size=0, max_size=3))))
        tiers = [
            {"up_to": str(b), "unit_amount": draw(amounts), "flat_amount": draw(amounts)}
            for b in bounds
        ]
        tiers.append({"up_to": None, "unit_amount": draw(amounts), "flat_amount": draw(amounts)})
        spec = {"model": model, "tiers": tiers}
    if draw(st.booleans()):
        spec["minimum"] = draw(amounts)
    if draw(st.booleans()):
        spec["maximum"] = str(Decimal(spec.get("minimum", "0")) + Decimal(draw(amounts)))
    if draw(st.booleans()):
        rounding = draw(st.sampled_from(["none", "up", "down", "half_up"]))
        spec["transform"] = {"divide_by": draw(positive), "rounding": rounding}
        if rounding != "none":
            spec["transform"]["precision"] = draw(st.integers(-1, 2))
    return spec


quantities = st.decimals(min_value=0, max_value=5000, places=2)


@settings(max_examples=600, deadline=None)
@given(specs(), quantities, quantities, st.sampled_from(["USD", "JPY", "KWD"]))
def test_the_bound_covers_what_the_rating_engine_charges_for_more_usage(raw, q, dq, currency):
    spec = parse_price_spec(raw)
    before = rate_quantity(spec, q, currency).amount
    after = rate_quantity(spec, q + dq, currency).amount
    bound = spend.max_increase(spec, dq)
    assert bound is not None
    unit = Decimal(10) ** -currency_exponent(currency)
    assert after - before <= bound + unit, (raw, q, dq, after - before, bound)


def test_models_without_a_simple_bound_are_always_computed():
    volume = {"model": "volume", "tiers": [{"up_to": None, "unit_amount": "1"}]}
    percent = {"model": "percentage", "rate": "2"}
    for raw in (volume, percent):
        assert spend.max_increase(parse_price_spec(raw), Decimal(1)) is None


FEE = {"key": "fee", "name": "Fee", "kind": "fixed", "price": {"model": "flat", "amount": "10"}}
PER_CALL = {
    "key": "api_calls",
    "name": "API calls",
    "kind": "usage",
    "meter_key": "api_calls",
    "price": {"model": "per_unit", "unit_amount": "0.5"},
}
_customers = count()
thresholds = st.lists(st.tuples(st.integers(11, 60), st.booleans()), min_size=1, max_size=3).map(
    lambda items: [{"value": str(v), "recurring": r} for v, r in items]
)


@pytest.mark.slow
@pytest.mark.django_db
def test_spend_alerts_fire_exactly_the_steps_reached_with_the_prefilter_on(monkeypatch):
    skipped = []
    original = chunk_module.spend_quiet

    def counting(alert, snap, done):  # type: ignore[no-untyped-def]
        quiet = original(alert, snap, done)
        skipped.append(quiet)
        return quiet

    monkeypatch.setattr(chunk_module, "spend_quiet", counting)

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(thresholds, st.lists(st.integers(1, 12), min_size=1, max_size=10))
    def run(specs, batches):
        with time_machine.travel(at(2026, 1, 15, 12), tick=False):
            meter()
            customer = CustomerFactory(external_id=f"spend-{next(_customers)}")
            version = make_version([FEE, PER_CALL], key="spend-prop")
            make_contract(customer, version=version, start=date(2026, 1, 1))
            alert = alert_create(
                name="budget", type="spend_threshold", customer=customer, thresholds=specs
            )
            alerts_evaluate_pending()
            calls = 0
            for n in batches:
                send(customer.external_id, n, at(2026, 1, 15, 11))
                calls += n
                alerts_evaluate_pending()
                total = Decimal(10) + Decimal("0.5") * calls
                got = set(
                    AlertTrigger.objects.filter(alert=alert).values_list("threshold_index", "step")
                )
                assert got == expected(specs, total), (specs, calls, total)

    run()
    # the pre-filter skipped computations (else this test would not exercise it) and let
    # others through
    assert any(skipped) and not all(skipped), skipped


def expected(specs, total):  # type: ignore[no-untyped-def]
    found = set()
    for index, spec in enumerate(specs):
        value = Decimal(spec["value"])
        if spec["recurring"]:
            found |= {(index, s) for s in range(1, int(total // value) + 1)}
        elif total >= value:
            found.add((index, 1))
    return found


@pytest.mark.django_db
def test_late_usage_of_an_issued_period_turns_the_prefilter_off_and_still_fires():
    """February's upcoming invoice grows by January's late usage (an adjustment line) while
    February's own usage does not move: the pre-filter must not judge that spend."""
    from invoicing.alerts.chunk import Chunk
    from invoicing.services.billing import billing_run
    from tests.invoicing.alerts.world import customer_on_plan

    customer, _contract = customer_on_plan("late-acme", plan="late-plan")
    send("late-acme", 3, at(2026, 1, 10))
    billing_run(now=at(2026, 2, 3))  # January finalized
    with time_machine.travel(at(2026, 2, 10, 12), tick=False):
        alert = alert_create(
            name="budget", type="spend_threshold", customer=customer,
            thresholds=[{"value": "6"}],
        )  # fmt: skip
        send("late-acme", 5, at(2026, 2, 10, 11))
        alerts_evaluate_pending()
        assert not AlertTrigger.objects.exists()  # 5 calls in February: 5.00
        snap = Chunk.load([customer.pk], at(2026, 2, 10, 12)).snapshots[customer.pk]
        assert snap.spend_memo and snap.with_billed is False  # issued, but nothing late
        send("late-acme", 1, at(2026, 1, 20), received=at(2026, 2, 10, 12))  # late January
        snap = Chunk.load([customer.pk], at(2026, 2, 10, 12)).snapshots[customer.pk]
        assert not snap.spend_memo and snap.with_billed
        alerts_evaluate_pending()
        trigger = AlertTrigger.objects.get(alert=alert)
        assert trigger.value == Decimal(6)  # 5 + the 1.00 adjustment for January
