"""A usage charge over one billing period, rated as ONE ladder even when its price changes.

``usage_ladders`` groups a charge's usage segments into ladders (contiguous segments billing
the same meter); ``rate_ladder`` reads each segment's CUMULATIVE usage from the ladder's start
(``[ladder start, segment start)`` and ``[ladder start, segment end)``, half-open, UTC) and
prices it with the engine's ladder steps, whose rules (tiers carry across segments, volume
tiers decided by the period's quantity, minimum/maximum per period) are in
``invoicing.pricing.ladder``. A ladder of one segment reads and prices exactly what a single
line always did. Cumulative reads also keep non-additive meters right: a unique user seen in
both segments is counted once, a peak is the period's peak.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from accounts.models import Customer
from billingsite.money import format_decimal
from invoicing.models import ChargeKind
from invoicing.pricing import (
    LadderPart,
    PercentageStep,
    PriceSpec,
    Rating,
    finish_ladder,
    ladder_groups_step,
    ladder_limits,
    ladder_quantity_step,
)
from invoicing.pricing.definitions import PercentagePrice, VolumePrice
from invoicing.selectors.terms import ChargeSegment
from invoicing.usage import EventValues, MeteringUsage, UsageReading, UsageSource

ZERO = Decimal(0)


@dataclasses.dataclass(frozen=True)
class RatedSegment:
    """One segment of a ladder, priced: ``quantity`` is the meter quantity it adds."""

    segment: ChargeSegment
    start: datetime
    end: datetime
    rating: Rating
    quantity: Decimal
    details: dict[str, Any]


def usage_ladders(segments: Sequence[ChargeSegment]) -> list[list[ChargeSegment]]:
    """Usage segments in runs that share one ladder: contiguous and billing the same meter
    (a gap, a fixed-fee segment or another meter starts a new ladder)."""
    ladders: list[list[ChargeSegment]] = []
    previous: ChargeSegment | None = None
    for segment in segments:
        if segment.charge.kind != ChargeKind.USAGE:
            previous = None
            continue
        if (
            previous is not None
            and previous.end_date == segment.start_date
            and previous.charge.meter_key == segment.charge.meter_key
        ):
            ladders[-1].append(segment)
        else:
            ladders.append([segment])
        previous = segment
    return ladders


def ladder_reads(
    ladder: Sequence[ChargeSegment],
    utc: Callable[[date], datetime],
) -> list[tuple[datetime, datetime, tuple[str, ...]]]:
    """The usage reads ``rate_ladder`` makes, as ``(start, end, group_by)`` (for read-ahead):
    cumulative from the ladder's start to each segment's start and end, plus the ladder's
    total for volume tiers; percentage segments read events instead."""
    ladder_start = utc(ladder[0].start_date)
    reads: dict[tuple[datetime, datetime, tuple[str, ...]], None] = {}
    for index, segment in enumerate(ladder):
        pricing = segment.spec.pricing
        if isinstance(pricing, PercentagePrice):
            continue
        dims = tuple(getattr(pricing, "dimensions", ()) or ())
        if index:
            reads[(ladder_start, utc(segment.start_date), dims)] = None
        reads[(ladder_start, utc(segment.end_date), dims)] = None
        if isinstance(pricing, VolumePrice):
            reads[(ladder_start, utc(ladder[-1].end_date), ())] = None
    return list(reads)


class _CumulativeUsage:
    """Usage from the ladder's start to a given instant, each reading taken once."""

    def __init__(
        self, usage: UsageSource, customer: Customer, meter_key: str, start: datetime
    ) -> None:
        self.usage, self.customer, self.meter_key, self.start = usage, customer, meter_key, start
        self._readings: dict[tuple[datetime, tuple[str, ...]], UsageReading] = {}

    def through(self, end: datetime, dims: Sequence[str] = ()) -> UsageReading:
        key = (end, tuple(dims))
        if key not in self._readings:
            self._readings[key] = self.usage(
                customer=self.customer,
                meter_key=self.meter_key,
                start=self.start,
                end=end,
                group_by=list(dims) if dims else None,
            )
        return self._readings[key]


def rate_ladder(
    ladder: Sequence[ChargeSegment],
    *,
    customer: Customer,
    utc: Callable[[date], datetime],
    usage: UsageSource,
    currency: str,
) -> list[RatedSegment]:
    """Price every segment of one ladder; the lines sum to what one unchanged price would
    charge for the period (up to each line's own rounding)."""
    meter_key = ladder[0].charge.meter_key
    ladder_start = utc(ladder[0].start_date)
    ladder_end = utc(ladder[-1].end_date)
    cumulative = _CumulativeUsage(usage, customer, meter_key, ladder_start)
    parts: list[LadderPart] = []
    extras: list[tuple[Decimal, dict[str, Any]]] = []
    for index, segment in enumerate(ladder):
        start, end = utc(segment.start_date), utc(segment.end_date)
        days = (segment.end_date - segment.start_date).days
        first = index == 0
        spec = segment.spec
        details: dict[str, Any] = {}
        if isinstance(spec.pricing, PercentagePrice):
            part, quantity = _percentage_part(
                spec,
                usage,
                customer=customer,
                meter_key=meter_key,
                ladder_start=ladder_start,
                start=start,
                end=end,
                days=days,
            )
        else:
            dims = list(getattr(spec.pricing, "dimensions", ()) or ())
            upper = cumulative.through(end, dims)
            lower = None if first else cumulative.through(start, dims)
            if dims:
                part = ladder_groups_step(
                    spec,
                    before=None if lower is None else lower.groups,
                    through=upper.groups,
                    days=days,
                )
            else:
                final = (
                    cumulative.through(ladder_end).total
                    if isinstance(spec.pricing, VolumePrice)
                    else upper.total
                )
                part = ladder_quantity_step(
                    spec,
                    before=None if lower is None else lower.total,
                    through=upper.total,
                    final=final,
                    days=days,
                )
                if isinstance(spec.pricing, VolumePrice) and len(ladder) > 1:
                    details["period_quantity"] = format_decimal(final)
            quantity = upper.total - (ZERO if lower is None else lower.total)
            if len(ladder) > 1:
                details["from"] = format_decimal(ZERO if lower is None else lower.total)
                details["to"] = format_decimal(upper.total)
        parts.append(part)
        extras.append((quantity, details))
    ratings = finish_ladder(parts, currency)
    return [
        RatedSegment(
            segment,
            utc(segment.start_date),
            utc(segment.end_date),
            rating,
            quantity,
            _ladder_details(index, parts, details),
        )
        for index, (segment, rating, (quantity, details)) in enumerate(
            zip(ladder, ratings, extras, strict=True)
        )
    ]


def _ladder_details(
    index: int, parts: Sequence[LadderPart], details: dict[str, Any]
) -> dict[str, Any]:
    """``details["ladder"]`` of a line in a ladder of several segments: where it sits on the
    period's ladder and, on the last line, the period's limits it was held to."""
    if len(parts) == 1:
        return {}
    ladder = {"segment": index + 1, "segments": len(parts), **details}
    if index == len(parts) - 1:
        minimum, maximum = ladder_limits(parts)
        if minimum is not None:
            ladder["period_minimum"] = format_decimal(minimum)
        if maximum is not None:
            ladder["period_maximum"] = format_decimal(maximum)
    return {"ladder": ladder}


def _percentage_part(
    spec: PriceSpec,
    usage: UsageSource,
    *,
    customer: Customer,
    meter_key: str,
    ladder_start: datetime,
    start: datetime,
    end: datetime,
    days: int,
) -> tuple[LadderPart, Decimal]:
    """Price a segment's events: earlier events of the ladder use up the free allowance; once
    it is used up and no per-event limit or transform applies, the rest is one count + sum in
    SQL, otherwise the events are streamed (a page at a time, never all in memory)."""
    events = _event_source(usage)
    step = PercentageStep(spec)
    if start > ladder_start and step.allowance_open:
        for value in events(customer=customer, meter_key=meter_key, start=ladder_start, end=start):
            step.skip(value)
            if not step.allowance_open:
                break
    values = events(customer=customer, meter_key=meter_key, start=start, end=end)
    streamed, streamed_value = 0, ZERO
    rest = step.linear
    if not rest:
        for value in values:
            if step.linear:
                rest = True
                break
            step.add(value)
            streamed += 1
            streamed_value += value
    if not rest:
        return step.part(days), streamed_value
    count, total = values.totals()
    step.add_bulk(count - streamed, total - streamed_value)
    return step.part(days), total


EventSource = Callable[..., EventValues]


def _event_source(usage: UsageSource) -> EventSource:
    """The usage source's per-event reader; sources without one (a projection, a test's
    function) fall back to metering's raw events."""
    events = getattr(usage, "events", None)
    return events if callable(events) else MeteringUsage().events
