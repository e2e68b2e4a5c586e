"""The ``usage_daily`` dataset: usage per customer, meter, group value and UTC day, read through
the metering selectors (``usage_series`` over rollups of 15-minute buckets).

Only whole days are exported: a day is in the window when it starts at or after ``since`` and
ends at or before ``until`` (default: now), so the nightly export never writes today's partial
usage. Late usage that arrives for a day already exported is not written again; the invoices
carry it as adjustment lines."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

from accounts.models import Customer
from billingsite.exports import Dataset, Key, Row, decimal_text
from metering.models import Meter
from metering.selectors import usage_series
from metering.selectors.activity import first_usage_at, usage_days
from reporting.datasets import columns as c

DAY = timedelta(days=1)


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _day_range(since: datetime | None, until: datetime | None) -> tuple[date, date] | None:
    """[first day, end day) of whole UTC days inside [since, until)."""
    if since is None:
        first = first_usage_at()
        if first is None:
            return None
        since = first
    since_utc = since.astimezone(UTC)
    end_day = (until or timezone.now()).astimezone(UTC).date()
    if since_utc.date() >= end_day:
        return None  # also keeps date arithmetic clear of year 9999
    first_day = since_utc.date() + (DAY if since_utc.timetz() != time(0, tzinfo=UTC) else DAY * 0)
    return (first_day, end_day) if first_day < end_day else None


def _dims(meter: Meter, day: date) -> list[str]:
    """The group dimensions of the meter version in effect at the end of the day."""
    versions = [v for v in meter.versions.all() if v.effective_from < _start_of(day) + DAY]
    return list(versions[-1].group_by or []) if versions else []


def _rows_of_day(day: date, pairs: list[tuple[int, int]]) -> list[tuple[Key, Row]]:
    meters = Meter.objects.prefetch_related("versions").in_bulk({m for m, _ in pairs})
    customers = Customer.objects.in_bulk({cu for _, cu in pairs})
    out: list[tuple[Key, Row]] = []
    for meter_id, customer_id in pairs:
        meter, customer = meters[meter_id], customers[customer_id]
        dims = _dims(meter, day)
        series = usage_series(
            customer=customer,
            meter=meter,
            start=_start_of(day),
            end=_start_of(day) + DAY,
            window="day",
            tz="UTC",
            group_by=dims,
        )
        for point in series.points:
            if point.value is None:
                continue
            group = json.dumps(point.group, sort_keys=True) if point.group is not None else ""
            key = (day, customer.pk, meter.key, group)
            out.append(
                (
                    key,
                    {
                        "day": day,
                        "customer_id": customer.pk,
                        "customer": customer.external_id,
                        "meter": meter.key,
                        "group": group or None,
                        "value": decimal_text(point.value),
                    },
                )
            )
    return sorted(out, key=lambda item: item[0])


def usage_daily_page(
    *, since: datetime | None, until: datetime | None, after: Key | None, limit: int
) -> list[tuple[Key, Row]]:
    span = _day_range(since, until)
    if span is None:
        return []
    first_day, end_day = span
    if after is not None:
        first_day = max(first_day, after[0])
    if first_day >= end_day:
        return []
    by_day: dict[date, list[tuple[int, int]]] = defaultdict(list)
    for day, meter_id, customer_id in usage_days(_start_of(first_day), _start_of(end_day)):
        by_day[day].append((meter_id, customer_id))
    page: list[tuple[Key, Row]] = []
    for day in sorted(by_day):
        for key, row in _rows_of_day(day, by_day[day]):
            if after is None or key > after:
                page.append((key, row))
        if len(page) >= limit:
            break
    return page[:limit]


USAGE_DAILY = Dataset(
    name="usage_daily",
    version=1,
    description="Usage per customer, meter, group value and day (UTC days, from the 15-minute "
    "rollups, read like invoices read it). Whole days only.",
    columns=(
        c.day("day", "The UTC day (00:00 to 24:00 UTC)."),
        c.customer_id(),
        c.customer(),
        c.text("meter", "The meter's key.", nullable=False),
        c.text(
            "group",
            'The group values as JSON with sorted keys, e.g. {"model": "large"}; empty when '
            "the meter has no group_by.",
        ),
        c.text("value", "The meter's aggregate over the day, a decimal string."),
    ),
    cursor="day, customer_id, meter, group",
    key_types=("date", "int", "str", "str"),
    page=usage_daily_page,
    owner="reporting",
)
