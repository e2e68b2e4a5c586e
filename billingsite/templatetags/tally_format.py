"""Template filters for the one way amounts, quantities and times read (``billingsite.display``).

{% load tally_format %}
{{ invoice.total|money:invoice.currency }}      1,234.50 USD
{{ line.quantity|quantity:meter.unit }}          319 GB
{% period invoice.period_start invoice.period_end customer.timezone %}
{% local_time invoice.due_at customer.timezone %}
    <time title="2026-08-01 18:05 UTC">Aug 1, 2026, 14:05 EDT</time>
{{ event.properties|structured }}                 a key/value list, not a Python repr
{% group_values rollup.meter_version.group_by rollup.group_values %}   model: gpt-4o
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django import template
from django.utils.html import format_html

from billingsite import admin_display, display

register = template.Library()


@register.filter
def money(amount: Any, currency: str = "") -> str:
    """An amount with its currency; a django-money ``Money`` brings its own currency."""
    code = str(getattr(getattr(amount, "currency", None), "code", "") or currency or "")
    if amount is None or amount == "":
        return display.DASH
    if isinstance(amount, str):  # a report's figure, already written as "80.90"
        amount = Decimal(amount)
    if not code:
        return display.quantity_text(Decimal(amount))
    return display.money_text(amount, code)


@register.filter
def quantity(value: Any, unit: str = "") -> str:
    if value is None or value == "":
        return display.DASH
    return display.quantity_text(Decimal(value), unit or "")


@register.simple_tag
def period(start: datetime | None, end: datetime | None, tz: str = "UTC") -> str:
    if start is None or end is None:
        return display.DASH
    return format_html(
        '<span title="{} to {}">{}</span>',
        display.utc_text(start),
        display.utc_text(end),
        display.period_text(start, end, tz or "UTC"),
    )


@register.simple_tag
def local_time(moment: datetime | None, tz: str = "UTC") -> str:
    if moment is None:
        return display.DASH
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        moment.isoformat(),
        display.utc_text(moment),
        display.time_text(moment, tz or "UTC"),
    )


@register.filter
def structured(value: Any) -> str:
    """A dict as a key/value list, a list of dicts as a small table (``admin_display``)."""
    if value is None or value == "" or value == {} or value == []:
        return display.DASH
    return admin_display.structured_html(value)


@register.simple_tag
def group_values(keys: Any, values: Any) -> str:
    """A rollup's group (values in the meter's ``group_by`` order) as key/value pairs."""
    if not values:
        return "(no grouping)"
    names = list(keys or [])
    pairs = {
        (names[i] if i < len(names) else f"group {i + 1}"): value for i, value in enumerate(values)
    }
    return admin_display.structured_html(pairs)


@register.filter
def price_spec(spec: Any, currency: str = "") -> str:
    """A price spec as a small table: amounts with their currency, tiers and rates as rows."""
    if not spec:
        return display.DASH
    if not currency:
        return admin_display.structured_html(spec)
    return admin_display.price_spec_html(spec, currency)


@register.simple_tag
def local_date(moment: datetime | None, tz: str = "UTC") -> str:
    """The day ``moment`` falls on in ``tz`` ("Aug 1, 2026"), the UTC time on hover."""
    if moment is None:
        return display.DASH
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        moment.isoformat(),
        display.utc_text(moment),
        display.date_text(moment, tz or "UTC"),
    )


@register.filter
def percent(ratio: Any) -> str:
    """A ratio (0.6) as a percentage ("60%"), without trailing zeros."""
    if ratio is None or ratio == "":
        return display.DASH
    return f"{display.quantity_text(Decimal(str(ratio)) * 100)}%"
