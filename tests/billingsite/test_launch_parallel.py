"""bin/tally test runs pytest in parallel unless the caller picked their own distribution."""

from __future__ import annotations

import pytest

from billingsite.launch import parallel_args

DEFAULT = ["-n", "auto", "--dist", "loadfile"]


@pytest.mark.parametrize(
    "pytest_args",
    [[], ["-q", "tests/accounts"], ["-p", "no:cacheprovider"], ["-m", "not slow", "-x"]],
)
def test_one_worker_per_core_by_default(pytest_args: list[str]) -> None:
    assert parallel_args(pytest_args, {}) == DEFAULT


@pytest.mark.parametrize(
    "pytest_args",
    [["-n", "3"], ["-n0"], ["--numprocesses=2"], ["-p", "no:xdist"], ["--dist", "load"]],
)
def test_the_callers_choice_wins(pytest_args: list[str]) -> None:
    assert parallel_args(pytest_args, {}) == []


def test_worker_count_from_the_environment() -> None:
    assert parallel_args([], {"TALLY_TEST_WORKERS": "3"}) == ["-n", "3", "--dist", "loadfile"]
    assert parallel_args([], {"TALLY_TEST_WORKERS": "0"}) == []
