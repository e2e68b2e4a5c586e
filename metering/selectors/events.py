"""Reads over stored events: the events API, the admin, invoicing's late-event adjustments."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from accounts.models import ApiKey, Customer
from billingsite.errors import NotFound
from metering.models import Meter, UsageEvent


def events_visible_to(api_key: ApiKey | None) -> QuerySet[UsageEvent]:
    qs = UsageEvent.objects.select_related("customer")
    if api_key is not None and api_key.customer_id is not None:
        qs = qs.filter(customer_id=api_key.customer_id)
    return qs


def events_filtered(*, api_key: ApiKey | None, customer: Customer | None = None,
                    type: str | None = None, start: datetime | None = None,
                    end: datetime | None = None) -> QuerySet[UsageEvent]:
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


def late_events(*, customer: Customer, since: datetime, meter: Meter | None = None,
                ) -> QuerySet[UsageEvent]:
    """Events flagged late (their period was closed when they were rolled up) since ``since``
    (by ``late_marked_at``); restricted to the event types ``meter`` has ever selected."""
    qs = UsageEvent.objects.filter(customer=customer, is_late=True, late_marked_at__gte=since)
    if meter is not None:
        qs = qs.filter(type__in=set(meter.versions.values_list("event_type", flat=True)))
    return qs.order_by("late_marked_at", "id")
