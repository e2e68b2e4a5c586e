"""Sections that other apps add to the finance dashboard (``reporting``), e.g. deferred revenue
from the revenue-recognition app. In the base layer so that an app below ``reporting``
registers from its ``AppConfig.ready()`` without importing it.

A section is a function ``func(as_of: date) -> list[FinanceTable]``: one table per currency
(never converted), whose first column labels the rows and whose other columns are amounts
(decimal strings) that the dashboard also draws as a chart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class FinanceTable:
    caption: str
    currency: str
    label: str  # heading of the first column, e.g. "Month"
    columns: list[str]  # headings of the amount columns
    rows: list[tuple[str, list[str]]] = field(default_factory=list)  # (label, amounts)


SectionFunc = Callable[[date], list[FinanceTable]]


@dataclass(frozen=True)
class FinanceSection:
    key: str
    title: str
    func: SectionFunc
    explanation: str = ""


# The key of the deferred-revenue panel: the dashboard shows a placeholder until an app
# (revenue) registers a section under it.
DEFERRED_REVENUE = "deferred_revenue"

_registry: dict[str, FinanceSection] = {}


def register_finance_section(
    key: str, title: str, func: SectionFunc, *, explanation: str = ""
) -> FinanceSection:
    section = FinanceSection(key, title, func, explanation)
    _registry[key] = section
    return section


def unregister_finance_section(key: str) -> None:
    _registry.pop(key, None)


def finance_section(key: str) -> FinanceSection | None:
    return _registry.get(key)


def finance_sections() -> list[FinanceSection]:
    return [_registry[k] for k in sorted(_registry)]
