"""A registry of checks for DESIGN.md's invariants, run by ``manage.py check_invariants``.

Each app declares its checks in ``<app>/invariants.py`` with ``@invariant(number, title)``;
a check yields one ``Violation`` per broken row and nothing when the data is sound. Checks
read the database only (they never repair), so on-call can run them against production.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from django.apps import apps


@dataclass(frozen=True)
class Violation:
    subject: str  # what is wrong, e.g. "invoice INV-USD-000042"
    detail: str  # why, with the numbers


@dataclass(frozen=True)
class Check:
    number: int  # the invariant's number in DESIGN.md
    title: str
    func: Callable[[], Iterable[Violation]]

    @property
    def name(self) -> str:
        return f"{self.func.__module__.split('.')[0]}.{self.func.__name__}"


_CHECKS: dict[str, Check] = {}


def invariant(
    number: int, title: str
) -> Callable[[Callable[[], Iterable[Violation]]], Callable[[], Iterable[Violation]]]:
    def register(func: Callable[[], Iterable[Violation]]) -> Callable[[], Iterable[Violation]]:
        check = Check(number, title, func)
        _CHECKS[check.name] = check
        return func

    return register


# Checks of the shared plumbing, which lives in billingsite but outside its registry module.
_PLATFORM_CHECK_MODULES = ("billingsite.outbox.invariants",)


def registered_checks() -> list[Check]:
    """Every check of every installed app, in invariant order."""
    for module in _PLATFORM_CHECK_MODULES:
        importlib.import_module(module)
    for config in apps.get_app_configs():
        try:
            importlib.import_module(f"{config.name}.invariants")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.invariants":
                raise
    return sorted(_CHECKS.values(), key=lambda c: (c.number, c.name))


def run_check(check: Check, *, limit: int) -> Iterator[Violation]:
    for count, violation in enumerate(check.func(), start=1):
        yield violation
        if count >= limit:
            return
