"""Usage sources with fixed numbers, for tests: the same totals for every period."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from accounts.models import Customer
from invoicing.usage import EventValues, UsageReading, UsageSource

ZERO = Decimal(0)


def fixed_usage(
    values: Mapping[str, Any], events: Mapping[str, Iterable[Any]] | None = None
) -> UsageSource:
    """A usage source with the same totals for every period (for tests and previews).

    ``values`` maps a meter key to a total (``Decimal``/``int``/``str``) or to a list of
    ``(group dict, value)`` pairs; ``events`` maps a meter key to its event values (the same
    for every interval), read by percentage prices.
    """
    return FixedUsage(values, events or {})


@dataclasses.dataclass(frozen=True)
class FixedUsage:
    values: Mapping[str, Any]
    event_values: Mapping[str, Iterable[Any]]

    def __call__(
        self,
        *,
        customer: Customer,
        meter_key: str,
        start: datetime,
        end: datetime,
        group_by: Sequence[str] | None = None,
    ) -> UsageReading:
        value = self.values.get(meter_key, 0)
        if isinstance(value, list | tuple):
            pairs = tuple((dict(g), Decimal(str(v))) for g, v in value)
            return UsageReading(total=sum((v for _g, v in pairs), ZERO), groups=pairs)
        return UsageReading(total=Decimal(str(value)))

    def events(
        self, *, customer: Customer, meter_key: str, start: datetime, end: datetime
    ) -> EventValues:
        return FixedEvents(tuple(Decimal(str(v)) for v in self.event_values.get(meter_key, ())))


@dataclasses.dataclass(frozen=True)
class FixedEvents:
    values: tuple[Decimal, ...]

    def __iter__(self) -> Iterator[Decimal]:
        return iter(self.values)

    def totals(self) -> tuple[int, Decimal]:
        return len(self.values), sum(self.values, ZERO)
