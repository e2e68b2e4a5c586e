"""Metering reads. ``usage_for_period``/``usage_series`` (and ``usage_for_customers``, the same
read for many customers at once) are the one way to read usage."""

from metering.selectors.events import (
    events_filtered,
    events_visible_to,
    late_event_intervals,
    late_events,
    meter_by_key,
    meter_event_values,
    meter_units,
)
from metering.selectors.usage import (
    Usage,
    UsageGroup,
    UsagePoint,
    UsageSeries,
    usage_for_customers,
    usage_for_period,
    usage_series,
)

__all__ = [
    "Usage",
    "UsageGroup",
    "UsagePoint",
    "UsageSeries",
    "events_filtered",
    "events_visible_to",
    "late_event_intervals",
    "late_events",
    "meter_by_key",
    "meter_event_values",
    "meter_units",
    "usage_for_customers",
    "usage_for_period",
    "usage_series",
]
