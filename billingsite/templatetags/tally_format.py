"""Template filters for the one way amounts, quantities and times read (``billingsite.display``).

{% load tally_format %}
{{ invoice.total|money:invoice.currency }}      1,234.50 USD
{{ line.quantity|quantity:meter.unit }}          319 GB
{% period invoice.period_start invoice.period_end customer.timezone %}
{% local_time invoice.due_at customer.timezone %}
    <time title="2026-08-01 18:05 UTC">Aug 1, 2026, 14:05 EDT</time>
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django import template
from django.utils.html import format_html

from billingsite import display

register = template.Library()


@register.filter
def money(amount: Any, currency: str = "") -> str:
    """An amount with its currency; a django-money ``Money`` brings its own currency."""
    code = str(getattr(getattr(amount, "currency", None), "code", "") or currency or "")
    if amount is None or amount == "":
        return display.DASH
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
