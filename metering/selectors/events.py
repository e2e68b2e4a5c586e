"""Reads over stored events: the events API, the admin, invoicing's late-event adjustments and
its per-event prices (``meter_event_values``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.db.models import QuerySet

from accounts.models import ApiKey, Customer
from billingsite.errors import AppError, NotFound
from metering.meter_sql import VersionSpan, spans_for
from metering.models import Aggregation, Meter, UsageEvent
from metering.selectors.reads import usage_reads

EVENT_PAGE_SIZE = 5000


def events_visible_to(api_key: ApiKey | None) -> QuerySet[UsageEvent]:
    qs = UsageEvent.objects.select_related("customer")
    if api_key is not None and api_key.customer_id is not None:
        qs = qs.filter(customer_id=api_key.customer_id)
    return qs


def events_filtered(
    *,
    api_key: ApiKey | None,
    customer: Customer | None = None,
    type: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> QuerySet[UsageEvent]:
    qs = events_visible_to(api_key)
    if customer is not None:
        qs = qs.filter(customer=customer)
    if type:
        qs = qs.filter(type=type)
    if start is not None:
        qs = qs.filter(timestamp__gte=start)
    if end is not None:
        qs = qs.filter(timestamp__lt=end)
    return qs


def meter_by_key(key: str) -> Meter:
    meter = Meter.objects.filter(key=key).first()
    if meter is None:
        raise NotFound(f"No meter with key {key!r}.")
    return meter


def meter_units(keys: Iterable[str] | None = None) -> dict[str, str]:
    """Meter key -> unit label ("GB"; "" for a meter without one), for ``keys`` or all meters.
    A key of a meter that no longer exists is absent: its quantities read without a unit."""
    rows = Meter.objects.all()
    if keys is not None:
        rows = rows.filter(key__in=[key for key in keys if key])
    return dict(rows.values_list("key", "unit"))


def late_events(
    *,
    customer: Customer,
    since: datetime,
    meter: Meter | None = None,
) -> QuerySet[UsageEvent]:
    """Events flagged late (their period was closed when they were rolled up) since ``since``
    (by ``late_marked_at``); restricted to the event types ``meter`` has ever selected."""
    qs = UsageEvent.objects.filter(customer=customer, is_late=True, late_marked_at__gte=since)
    if meter is not None:
        qs = qs.filter(type__in=set(meter.versions.values_list("event_type", flat=True)))
    return qs.order_by("late_marked_at", "id")


def late_event_intervals(
    *, customer: Customer, intervals: Sequence[tuple[datetime, datetime]]
) -> set[int]:
    """Which of the half-open ``[start, end)`` intervals hold at least one event of
    ``customer`` flagged late (by ``metering.late``); returns their indexes.

    Reads the configured usage store (``metering.selectors.reads``): with a columnar store
    the late flags live there, set when the event is stored or adopted."""
    if not intervals:
        return set()
    return usage_reads().late_intervals(customer.pk, intervals)


def customers_with_late_events(customer_ids: Sequence[int]) -> set[int]:
    """Which of ``customer_ids`` have any event flagged late (the partial ``usageevent_late``
    index): the others have no late usage for an earlier invoice to adjust."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT customer_id FROM metering_usageevent"
            " WHERE customer_id = ANY(%s) AND is_late",
            [list(customer_ids)],
        )
        return {int(row[0]) for row in cursor.fetchall()}


@dataclass(frozen=True)
class MeterEventValues:
    """The value of each event ``meter`` selects for one customer in ``[start, end)`` (UTC,
    half-open), with the meter's filters and value expression (the rollups' own SQL).

    Iterating reads the values lazily in event order (timestamp, then id) one page at a time
    (keyset pagination: memory stays bounded and a caller that stops early reads no more);
    ``totals()`` is the events' count and sum computed in SQL. Nothing is read until asked."""

    customer_id: int
    spans: tuple[VersionSpan, ...]
    start: datetime
    end: datetime
    page_size: int = EVENT_PAGE_SIZE

    def _ranges(self) -> Iterator[tuple[VersionSpan, datetime, datetime]]:
        for span in self.spans:
            lo, hi = max(self.start, span.start), min(self.end, span.end)
            if lo < hi:
                yield span, lo, hi

    def __iter__(self) -> Iterator[Decimal]:
        reads = usage_reads()
        for span, lo, hi in self._ranges():
            after: tuple[datetime, int] | None = None
            while True:
                rows = reads.event_values(self.customer_id, span, lo, hi, after, self.page_size)
                for _timestamp, _pk, amount in rows:
                    yield Decimal(amount)
                if len(rows) < self.page_size:
                    break
                after = (rows[-1][0], rows[-1][1])

    def totals(self) -> tuple[int, Decimal]:
        reads = usage_reads()
        count, total = 0, Decimal(0)
        for span, lo, hi in self._ranges():
            n, amount = reads.event_totals(self.customer_id, span, lo, hi)
            count += n
            total += amount
        return count, total


def meter_event_values(
    *,
    customer: Customer,
    meter: Meter,
    start: datetime,
    end: datetime,
    page_size: int = EVENT_PAGE_SIZE,
) -> MeterEventValues:
    """The per-event values of ``meter`` for ``customer`` in ``[start, end)`` (see
    ``MeterEventValues``). A ``unique_count`` meter has no numeric value per event."""
    spans = tuple(
        s for s in spans_for(list(meter.versions.all())) if s.start < end and s.end > start
    )
    if any(s.aggregation == Aggregation.UNIQUE_COUNT for s in spans):
        raise AppError(
            "unsupported_meter",
            f"Meter {meter.key!r} counts unique values; a "
            "per-event price needs a meter whose events carry a number.",
            details={"meter_key": meter.key},
        )
    return MeterEventValues(customer.pk, spans, start, end, page_size)
