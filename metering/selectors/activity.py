"""Which customers used which meters in a range, read from the rollups (15-minute buckets):
the export of daily usage asks ``usage_series`` only for those pairs."""

from __future__ import annotations

from datetime import datetime

from metering.models import HourlyRollup


def usage_pairs(start: datetime, end: datetime) -> list[tuple[int, int]]:
    """(meter id, customer id) pairs with a rollup bucket starting in ``[start, end)``, sorted.

    A gauge (``time_weighted_sum``) whose last sample is older than ``start`` holds its value
    without a bucket in the range, so it is not listed; the export documents this."""
    rows = (
        HourlyRollup.objects.filter(hour__gte=start, hour__lt=end)
        .values_list("meter_version__meter_id", "customer_id")
        .distinct()
        .order_by("meter_version__meter_id", "customer_id")
    )
    return [(meter_id, customer_id) for meter_id, customer_id in rows]


def first_usage_at() -> datetime | None:
    """The start of the earliest rollup bucket, or None when nothing was ever rolled up."""
    first = HourlyRollup.objects.order_by("hour").values_list("hour", flat=True).first()
    return first
