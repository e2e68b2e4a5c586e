"""billingsite.money.allocate: parts proportional to the weights that sum exactly to the
amount, leftover minor units to the largest remainders (earlier first on ties)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billingsite.money import MoneyError, allocate

D = Decimal


def test_largest_remainder_by_hand() -> None:
    # 100.00 in thirds: 3333.33.. cents each, floors 3333 x 3 = 9999, one cent to the first.
    assert allocate(D("100.00"), [1, 1, 1], "USD") == [D("33.34"), D("33.33"), D("33.33")]
    # 10 JPY over 17 and 28 days: shares 3.78 and 6.22, floors 3 + 6, the cent to .78.
    assert allocate(D("10"), [17, 28], "JPY") == [D("4"), D("6")]
    assert allocate(D("-1.00"), [1, 2], "USD") == [D("-0.33"), D("-0.67")]
    assert allocate(D("5.00"), [0, 3], "USD") == [D("0.00"), D("5.00")]


@pytest.mark.parametrize("weights", [[], [0, 0], [1, -1]])
def test_refuses_weights_without_a_positive_sum(weights: list[int]) -> None:
    with pytest.raises(MoneyError):
        allocate(D("1.00"), weights, "USD")


@given(
    cents=st.integers(-(10**9), 10**9),
    weights=st.lists(st.integers(0, 10**6), min_size=1, max_size=40).filter(lambda w: sum(w) > 0),
)
def test_parts_sum_to_the_amount_and_stay_within_a_cent_of_the_exact_share(
    cents: int, weights: list[int]
) -> None:
    amount = D(cents) / 100
    parts = allocate(amount, weights, "USD")
    assert sum(parts) == amount
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part - amount * weight / sum(weights)) < D("0.01")
