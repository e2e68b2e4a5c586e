"""Where billing reads usage: one injectable function, defaulting to metering's selector.

Billing code takes ``usage: UsageSource`` and calls it as
``usage(customer=..., meter_key=..., start=..., end=..., group_by=...)`` for a half-open UTC
period. The default adapts ``metering.selectors.usage_for_period`` (the selector the usage
pages share, so pages and invoices agree); tests pass explicit numbers instead
(``tests/usage_sources.py``), or name them in ``INVOICING_USAGE_SOURCE`` (``default_usage``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from accounts.models import Customer
from billingsite.errors import AppError

ZERO = Decimal(0)


@dataclasses.dataclass(frozen=True)
class UsageReading:
    """Total usage of a meter in a period and, when grouped, the value of each group."""

    total: Decimal
    groups: tuple[tuple[Mapping[str, Any], Decimal], ...] = ()


@dataclasses.dataclass(frozen=True)
class UsageRequest:
    """One read the computation will make: what ``MeteringUsage.warm`` reads ahead."""

    customer_id: int
    meter_key: str
    start: datetime
    end: datetime
    group_by: tuple[str, ...] = ()


class UsageSource(Protocol):
    def __call__(
        self,
        *,
        customer: Customer,
        meter_key: str,
        start: datetime,
        end: datetime,
        group_by: Sequence[str] | None = None,
    ) -> UsageReading: ...


class MeteringUsage:
    """Usage from ``metering.selectors.usage.usage_for_period`` (the selector the usage pages
    share, so pages and invoices agree). Meters are looked up by key once per instance: make
    one per billing run so a run sees one definition of each meter."""

    def __init__(self) -> None:
        self._meters: dict[str, Any] = {}
        self._warm: dict[UsageRequest, UsageReading] = {}

    def meter(self, meter_key: str) -> Any:
        # Imported here: metering is a lower layer, but it landed after this module was written.
        from metering.models import Meter

        if meter_key not in self._meters:
            meter = Meter.objects.prefetch_related("versions").filter(key=meter_key).first()
            if meter is None:
                raise AppError(
                    "unknown_meter",
                    f"No meter with key {meter_key!r}: a usage "
                    "charge bills a meter that does not exist.",
                    details={"meter_key": meter_key},
                )
            self._meters[meter_key] = meter
        return self._meters[meter_key]

    def warm(self, requests: Iterable[UsageRequest]) -> int:
        """Read ahead, with one query per meter version and period for all the customers that
        ask the same question (the billing run warms a chunk of contracts). Each warmed
        reading answers the next identical call once; a later call reads again, so a value
        is at most as old as the chunk. Unknown meters are left to the call (which raises
        for that contract alone). Returns the number of readings held."""
        from metering.selectors.usage import usage_for_customers

        questions: dict[tuple[str, datetime, datetime, tuple[str, ...]], set[int]] = {}
        for request in requests:
            questions.setdefault(
                (request.meter_key, request.start, request.end, request.group_by), set()
            ).add(request.customer_id)
        for (meter_key, start, end, group_by), customer_ids in questions.items():
            try:
                meter = self.meter(meter_key)
            except AppError:
                continue
            results = usage_for_customers(
                customer_ids=sorted(customer_ids),
                meter=meter,
                start=start,
                end=end,
                group_by=list(group_by) or None,
            )
            for customer_id, result in results.items():
                key = UsageRequest(customer_id, meter_key, start, end, group_by)
                self._warm[key] = reading_from(result)
        return len(self._warm)

    def __call__(
        self,
        *,
        customer: Customer,
        meter_key: str,
        start: datetime,
        end: datetime,
        group_by: Sequence[str] | None = None,
    ) -> UsageReading:
        from metering.selectors.usage import usage_for_period

        warmed = self._warm.pop(
            UsageRequest(customer.pk, meter_key, start, end, tuple(group_by or ())), None
        )
        if warmed is not None:
            return warmed
        result = usage_for_period(
            customer=customer,
            meter=self.meter(meter_key),
            start=start,
            end=end,
            group_by=list(group_by) if group_by else None,
        )
        return reading_from(result)

    def events(
        self, *, customer: Customer, meter_key: str, start: datetime, end: datetime
    ) -> EventValues:
        """Per-event values in ``[start, end)`` (percentage prices): lazy, in event order."""
        from metering.selectors.events import meter_event_values

        return meter_event_values(
            customer=customer, meter=self.meter(meter_key), start=start, end=end
        )


class EventValues(Protocol):
    """A meter's event values for one customer and interval: iterate them in event order;
    ``totals()`` is their count and sum."""

    def __iter__(self) -> Iterator[Decimal]: ...

    def totals(self) -> tuple[int, Decimal]: ...


def default_usage() -> UsageSource:
    """The source billing reads when a caller passes none: metering's own, unless the
    ``INVOICING_USAGE_SOURCE`` setting names another (the dotted path of a function answering
    a ``UsageSource``; tests use it to bill fixed numbers through the admin and the API)."""
    path = getattr(settings, "INVOICING_USAGE_SOURCE", "")
    if path:
        source: UsageSource = import_string(path)()
        return source
    return MeteringUsage()


class RememberedUsage(MeteringUsage):
    """``MeteringUsage`` that reads each (customer, meter, interval, grouping) once and answers
    it as often as asked: the usage overview computes the same period twice (as it stands and
    projected), and an alert batch asks the same usage for a usage alert and for the spend."""

    def __init__(self) -> None:
        super().__init__()
        self._readings: dict[tuple[Any, ...], UsageReading] = {}

    def __call__(
        self,
        *,
        customer: Customer,
        meter_key: str,
        start: datetime,
        end: datetime,
        group_by: Sequence[str] | None = None,
    ) -> UsageReading:
        key = (customer.pk, meter_key, start, end, tuple(group_by or ()))
        if key not in self._readings:
            self._readings[key] = super().__call__(
                customer=customer, meter_key=meter_key, start=start, end=end, group_by=group_by
            )
        return self._readings[key]


def reading_from(result: Any) -> UsageReading:
    """Accept the selector's result as an object or a mapping with ``total`` and ``groups``."""
    get = result.get if isinstance(result, Mapping) else (lambda k: getattr(result, k, None))
    total = Decimal(str(get("total") or 0))
    groups = []
    for item in get("groups") or ():
        item_get = item.get if isinstance(item, Mapping) else (lambda k, i=item: getattr(i, k))
        groups.append((dict(item_get("group") or {}), Decimal(str(item_get("value") or 0))))
    return UsageReading(total=total, groups=tuple(groups))
