"""How the admin shows stored values: amounts, quantities and structured values, one way.

Django's admin renders a model field through ``django.contrib.admin.utils.display_for_field``
(changelist cells and read-only fields alike). Left alone it shows a ``DecimalField`` with all
its places ("319.000000000000000000"), a django-money ``Money`` as "$80.90" and a ``JSONField``
as one line of JSON. ``install()`` (from ``BillingsiteConfig.ready()``, after django-money's
own hook) wraps it so that:

- a ``MoneyField`` reads as ``display.money_text`` ("80.90 USD");
- any other ``DecimalField`` reads as ``display.quantity_text`` (no trailing zeros, grouped);
- a ``JSONField`` object reads as a key/value list, a list of objects as a small table.

Admin callables that compute an amount return ``money_text(...)`` themselves, since only they
know the currency. ``structured_html`` is the one renderer for nested values (price specs,
event properties, rollup groups, rating details).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.contrib.admin import helpers as admin_helpers
from django.contrib.admin import utils as admin_utils
from django.contrib.admin.templatetags import admin_list
from django.db import models
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from billingsite.display import DASH, money_text, price_text, quantity_text

_MODULES = (admin_utils, admin_helpers, admin_list)
_installed: dict[str, Callable[..., Any]] = {}


def install() -> None:
    """Wrap the admin's ``display_for_field`` (idempotent)."""
    if "original" in _installed:
        return
    _installed["original"] = admin_utils.display_for_field
    for module in _MODULES:
        module.display_for_field = display_for_field  # type: ignore[attr-defined]


def display_for_field(
    value: Any, field: models.Field[Any, Any], empty_value_display: str, avoid_link: bool = False
) -> Any:
    original = _installed.get("original", admin_utils.display_for_field)
    if value is None or getattr(field, "flatchoices", None):
        return original(value, field, empty_value_display, avoid_link)
    currency = getattr(getattr(value, "currency", None), "code", None)
    if currency:  # a django-money Money
        return money_text(value, str(currency))
    if isinstance(field, models.DecimalField) and isinstance(value, Decimal | int):
        return quantity_text(value)
    if isinstance(field, models.JSONField) and isinstance(value, dict | list) and value:
        return structured_html(value)
    return original(value, field, empty_value_display, avoid_link)


def scalar_text(value: Any) -> str:
    """A leaf of a structured value: numbers without trailing zeros, strings as they are."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal | int | float):
        return quantity_text(Decimal(str(value)))
    if isinstance(value, str) and _looks_decimal(value):
        return quantity_text(Decimal(value))
    return str(value)


def _looks_decimal(text: str) -> bool:
    body = text[1:] if text[:1] == "-" else text
    whole, dot, frac = body.partition(".")
    return bool(dot) and whole.isdigit() and frac.isdigit()


def structured_html(value: Any) -> SafeString:
    """A dict as a key/value list, a list of dicts as a table, other lists inline."""
    if isinstance(value, Mapping):
        if not value:
            return format_html("{}", DASH)
        rows = format_html_join(
            "", "<dt>{}</dt><dd>{}</dd>", ((key, structured_html(v)) for key, v in value.items())
        )
        return format_html('<dl class="tally-kv">{}</dl>', rows)
    if isinstance(value, Sequence) and not isinstance(value, str):
        if value and all(isinstance(item, Mapping) for item in value):
            return rows_table(value)
        return format_html_join(", ", "{}", ((structured_html(item),) for item in value))
    return format_html("{}", scalar_text(value))


def rows_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] = ()) -> SafeString:
    """A small table of rows (tiers, packages, matrix rates): one column per key."""
    names = list(columns) or list(dict.fromkeys(key for row in rows for key in row))
    head = format_html_join("", "<th>{}</th>", ((name.replace("_", " "),) for name in names))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        (
            (format_html_join("", "<td>{}</td>", ((structured_html(row.get(n)),) for n in names)),)
            for row in rows
        ),
    )
    return format_html(
        '<table class="tally-mini"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', head, body
    )


# Price-spec fields that are amounts in the charge's currency, and those that are quantities
# (invoicing.pricing.spec; decimals arrive there as strings).
_AMOUNT_KEYS = {"minimum", "maximum"}
_QUANTITY_KEYS = {"up_to", "package_size", "free_units"}


def _is_amount(key: str) -> bool:
    return key.endswith("amount") or key in _AMOUNT_KEYS


def _price_value(key: str, value: Any, currency: str) -> SafeString:
    if isinstance(value, Mapping) and key == "match":  # a matrix rate's dimension values
        return structured_html(value)
    if isinstance(value, Sequence) and not isinstance(value, str) and value:
        if all(isinstance(item, Mapping) for item in value):
            return _price_rows(value, currency)
    if _is_amount(key) and value is not None and not isinstance(value, Mapping | list):
        return format_html(
            '<span class="tally-exact">{}</span>', price_text(Decimal(value), currency)
        )
    if key in _QUANTITY_KEYS and isinstance(value, str | int) and str(value).isdigit():
        return format_html("{}", quantity_text(Decimal(value)))
    return structured_html(value)


def _price_rows(rows: Sequence[Mapping[str, Any]], currency: str) -> SafeString:
    names = list(dict.fromkeys(key for row in rows for key in row))
    head = format_html_join("", "<th>{}</th>", ((name.replace("_", " "),) for name in names))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        (
            (
                format_html_join(
                    "",
                    "<td>{}</td>",
                    ((_price_value(n, row.get(n), currency) if n in row else DASH,) for n in names),
                ),
            )
            for row in rows
        ),
    )
    return format_html(
        '<table class="tally-mini"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', head, body
    )


def price_spec_html(spec: Any, currency: str) -> SafeString:
    """A price spec as a person reads it: its model, then amounts with their currency, tiers,
    packages and matrix rates as small tables (never JSON)."""
    if not isinstance(spec, Mapping):
        return structured_html(spec)
    rows = format_html_join(
        "",
        "<dt>{}</dt><dd>{}</dd>",
        (
            (key.replace("_", " "), _price_value(key, value, currency))
            for key, value in spec.items()
        ),
    )
    return format_html('<dl class="tally-kv tally-price">{}</dl>', rows)


def collapsed_html(summary: str, value: Any) -> SafeString:
    """A structured value folded under a one-line summary (keeps table cells narrow)."""
    return format_html(
        '<details class="tally-more"><summary>{}</summary>{}</details>',
        summary,
        structured_html(value),
    )
