"""Explain this charge: from an invoice line to the usage, hourly rollups and raw events
behind it, read through the same usage selector that billed it.

For a usage or adjustment line, the usage of the line's meter over the line's period is read
again now; it equals the line's quantity unless events arrived after the invoice was
finalized (those are billed as an adjustment on a later invoice, which the page says).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse

from invoicing.models import InvoiceLine
from invoicing.usage_pages.charts import ChartTable, series_table
from invoicing.usage_pages.presenters import LineExplained, explain_line, number
from metering.models import HourlyRollup, Meter, UsageEvent
from metering.selectors import meter_units, usage_for_period, usage_series

SAMPLE_EVENTS = 20
ROLLUP_ROWS = 48


@dataclass
class ChargeExplanation:
    line: InvoiceLine
    explained: LineExplained
    meter: Meter | None = None
    usage_now: Decimal | None = None
    usage_matches: bool | None = None
    daily: ChartTable | None = None
    rollup_count: int = 0
    rollup_events: int = 0
    rollups: list[Any] = field(default_factory=list)
    events: list[UsageEvent] = field(default_factory=list)
    event_types: list[str] = field(default_factory=list)


def _window(line: InvoiceLine) -> tuple[datetime, datetime]:
    return line.period_start, line.period_end


def charge_explanation(line: InvoiceLine) -> ChargeExplanation:
    invoice, customer = line.invoice, line.invoice.customer
    names = dict(Meter.objects.values_list("key", "name"))
    units = meter_units([line.meter_key])
    result = ChargeExplanation(
        line, explain_line(line, invoice.currency, customer.timezone, names, units)
    )
    meter = (
        Meter.objects.prefetch_related("versions").filter(key=line.meter_key).first()
        if line.meter_key
        else None
    )
    if meter is None:
        return result
    start, end = _window(line)
    result.meter = meter
    result.usage_now = usage_for_period(customer=customer, meter=meter, start=start, end=end).total
    if line.quantity is not None and result.usage_now is not None:
        result.usage_matches = Decimal(line.quantity) == result.usage_now
    series = usage_series(
        customer=customer, meter=meter, start=start, end=end, window="day", tz=customer.timezone
    )
    result.daily = series_table(
        series, caption=f"{meter.name} per day in this line's period", unit=meter.unit
    )
    versions = list(meter.versions.all())
    rollups = HourlyRollup.objects.filter(
        customer=customer, meter_version__in=versions, hour__gte=start, hour__lt=end
    )
    totals = rollups.aggregate(n=Count("pk"), events=Sum("event_count"))
    result.rollup_count, result.rollup_events = totals["n"], totals["events"] or 0
    result.rollups = list(rollups.select_related("meter_version").order_by("hour")[:ROLLUP_ROWS])
    result.event_types = sorted({v.event_type for v in versions})
    result.events = list(
        UsageEvent.objects.filter(
            customer=customer, type__in=result.event_types, timestamp__gte=start, timestamp__lt=end
        ).order_by("timestamp", "pk")[:SAMPLE_EVENTS]
    )
    return result


def explain_view(request: HttpRequest, line_id: int) -> HttpResponse:
    if not request.user.has_perm("invoicing.view_invoice"):
        raise PermissionDenied
    line = get_object_or_404(InvoiceLine.objects.select_related("invoice__customer"), pk=line_id)
    explanation = charge_explanation(line)
    return TemplateResponse(
        request,
        "admin/customer_360_explain.html",
        {
            **admin.site.each_context(request),
            "title": f"Explain: {line.description}",
            "x": explanation,
            "invoice": line.invoice,
            "customer": line.invoice.customer,
            "usage_now": number(
                explanation.usage_now, explanation.meter.unit if explanation.meter else ""
            ),
            "opts": InvoiceLine._meta,
        },
    )
