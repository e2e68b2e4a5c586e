"""Which customers used which meters on which UTC days, read from the rollups (15-minute
buckets): the export of daily usage asks ``usage_series`` only for those."""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.db.models.functions import TruncDate

from metering.models import HourlyRollup


def usage_days(start: datetime, end: datetime) -> list[tuple[date, int, int]]:
    """(UTC day, meter id, customer id) with a rollup bucket starting in ``[start, end)``,
    sorted.

    A gauge (``time_weighted_sum``) whose last sample is older than the day holds its value
    without a bucket that day, so that day is not listed; the export documents this."""
    rows = (
        HourlyRollup.objects.filter(hour__gte=start, hour__lt=end)
        .annotate(day=TruncDate("hour", tzinfo=UTC))
        .values_list("day", "meter_version__meter_id", "customer_id")
        .distinct()
        .order_by("day", "meter_version__meter_id", "customer_id")
    )
    return [(day, meter_id, customer_id) for day, meter_id, customer_id in rows]


def first_usage_at() -> datetime | None:
    """The start of the earliest rollup bucket, or None when nothing was ever rolled up."""
    return HourlyRollup.objects.order_by("hour").values_list("hour", flat=True).first()
