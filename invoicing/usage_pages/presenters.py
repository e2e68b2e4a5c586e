"""Display values for the usage pages: money in the invoice's currency with its exponent,
local dates in the customer's time zone, and each invoice line explained in words.

Amounts of lines and totals are already rounded (``round_line`` at computation); they are
formatted, never re-rounded. Breakdown items carry the engine's exact, unrounded amounts and
are shown as such, so a reader can follow the arithmetic to the rounded line amount.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from billingsite.display import money_text, quantity_text
from billingsite.money import SupportsAmount
from invoicing.models import InvoiceLine, LineKind
from invoicing.selectors.computation import LineDraft

MAX_BREAKDOWN_ROWS = 25
PRICE_MODELS = {
    "flat": "Flat fee per period",
    "per_unit": "Per unit",
    "package": "Per package",
    "graduated": "Graduated tiers",
    "volume": "Volume tiers",
    "percentage": "Percentage",
    "graduated_percentage": "Graduated percentage tiers",
    "matrix": "Rates by dimension",
}


def money(amount: Decimal | int | SupportsAmount, currency: str) -> str:
    """ "1,234.50 USD" for a rounded amount (``billingsite.display.money_text``)."""
    return money_text(amount, currency)


def number(value: Decimal | None, unit: str = "") -> str:
    """ "1,234.5 GB": a quantity without trailing zeros, with the meter's unit when it has one."""
    return quantity_text(value, unit)


def local_range(start: datetime, end: datetime, tz: str) -> str:
    """Half-open [start, end) in local time: whole days as "2026-01-01 to 2026-01-31"."""
    zone = ZoneInfo(tz)
    first, after = start.astimezone(zone), end.astimezone(zone)
    midnight = {(first.hour, first.minute), (after.hour, after.minute)} == {(0, 0)}
    if midnight:
        last = (after - timedelta(days=1)).date()
        return f"{first:%Y-%m-%d}" if last == first.date() else f"{first:%Y-%m-%d} to {last}"
    return f"{first:%Y-%m-%d %H:%M} to {after:%Y-%m-%d %H:%M}"


@dataclass
class LineExplained:
    kind: str
    kind_label: str
    description: str
    amount: str
    meter: str = ""
    period: str = ""
    quantity: str = ""
    price_model: str = ""
    price_terms: list[tuple[str, str]] = field(default_factory=list)
    tiers: list[dict[str, str]] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _terms(price: dict[str, Any]) -> list[tuple[str, str]]:
    skip = {"model", "tiers", "rates", "dimensions"}
    return [
        (key.replace("_", " "), _plain(value))
        for key, value in price.items()
        if key not in skip and value not in (None, "", [], {})
    ]


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in value.items())
    return str(value)


def _tiers(price: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    previous = "0"
    for tier in price.get("tiers") or []:
        upper = tier.get("up_to")
        rows.append(
            {
                "range": f"{previous} – {upper if upper is not None else '∞'}",
                "unit": str(tier.get("unit_amount", tier.get("rate", ""))),
                "flat": str(tier.get("flat_amount") or "0"),
            }
        )
        previous = str(upper) if upper is not None else previous
    for rate in price.get("rates") or []:
        match = ", ".join(f"{k}={v}" for k, v in (rate.get("match") or {}).items())
        rows.append({"range": match, "unit": str(rate.get("unit_amount", "")), "flat": ""})
    return rows


def _step(item: dict[str, Any], currency: str) -> str:
    kind, amt = item.get("type"), f"{item.get('amount')} {currency}"
    if kind == "per_unit":
        return f"{item['units']} units × {item['unit_amount']} = {amt}"
    if kind == "tier":
        upper = item["up_to"] if item.get("up_to") is not None else "∞"
        return (
            f"Tier {item['tier_index'] + 1} ({item['from_units']} – {upper}): "
            f"{item['units']} units × {item['unit_amount']} + {item['flat_amount']} = {amt}"
        )
    if kind == "package":
        return (
            f"{item['units']} units, {item['free_units']} free: {item['packages']} "
            f"packages of {item['package_size']} × {item['package_amount']} = {amt}"
        )
    if kind == "flat":
        days = (
            f" × {item['days_used']}/{item['days_in_period']} days"
            if item.get("days_used") is not None
            else ""
        )
        return f"{item['amount_per_period']} × {item['quantity']}{days} = {amt}"
    if kind == "group":
        group = ", ".join(f"{k}={v}" for k, v in (item.get("group") or {}).items()) or "other"
        return f"{group}: {item['units']} units × {item['unit_amount']} = {amt}"
    if kind == "percent_tier":
        return (
            f"Tier {item['tier_index'] + 1}: {item['value']} at {item['rate']}% "
            f"+ {item['flat_amount']} = {amt}"
        )
    if kind == "event":
        return f"Event {item['event_index'] + 1}: value {item['value']} → {amt}"
    if kind == "events":
        return (
            f"{item['events']} events ({item['free_events']} free), value {item['value']}: "
            f"{item['rate']}% = {item['percentage_amount']} + {item['fixed_total']} fixed "
            f"+ {item['clamp_adjustment']} per-event limits = {amt}"
        )
    if kind == "adjustment":
        return f"{str(item['limit']).capitalize()} of {item['threshold']} applied: {amt}"
    return f"{kind}: {amt}"


def explain_line(
    line: InvoiceLine | LineDraft,
    currency: str,
    tz: str,
    meter_names: dict[str, str],
    units: dict[str, str] | None = None,
) -> LineExplained:
    """Every line in words: meter, period, quantity (with the meter's unit, from ``units``),
    price and tiers, steps, credits."""
    kind = str(line.kind)
    unit = (units or {}).get(line.meter_key or "", "")
    explained = LineExplained(
        kind=kind,
        kind_label=LineKind(kind).label,
        description=line.description,
        amount=money(line.amount, currency),
        period=local_range(line.period_start, line.period_end, tz),
        quantity="" if line.quantity is None else number(Decimal(line.quantity), unit),
    )
    if line.meter_key:
        explained.meter = f"{meter_names.get(line.meter_key, line.meter_key)} ({line.meter_key})"
    price = line.price or {}
    if price:
        explained.price_model = PRICE_MODELS.get(price.get("model", ""), price.get("model", ""))
        explained.price_terms = _terms(price)
        explained.tiers = _tiers(price)
    steps = [_step(item, currency) for item in line.breakdown or []]
    if len(steps) > MAX_BREAKDOWN_ROWS:
        hidden = len(steps) - MAX_BREAKDOWN_ROWS
        steps = [*steps[:MAX_BREAKDOWN_ROWS], f"… and {hidden} more steps"]
    explained.steps = steps
    explained.notes = _notes(line, currency)
    return explained


def _notes(line: InvoiceLine | LineDraft, currency: str) -> list[str]:
    details = line.details or {}
    notes = []
    if "amount_unrounded" in details:
        notes.append(
            f"Exact amount {details['amount_unrounded']} {currency}, rounded once "
            f"to {money(line.amount, currency)}."
        )
    if line.overrides:
        notes.append(f"Contract terms applied: {len(line.overrides)} rate override(s).")
    ladder = details.get("ladder")
    if ladder:
        notes.append(
            f"Part {ladder['segment']} of {ladder['segments']} of this period's usage "
            "(the price changed mid-period): tiers continue from the earlier part"
            + (f", usage {ladder['from']} → {ladder['to']}." if "from" in ladder else ".")
        )
    if line.kind == LineKind.CREDIT:
        notes.append(
            f"Drawn from credit grant #{details.get('grant_id')}: balance "
            f"{details.get('balance_before')} → {details.get('balance_after')} "
            f"{currency}."
        )
    if line.kind == LineKind.ADJUSTMENT:
        notes.append(
            f"Re-rated {details.get('rerated_amount')}, already billed "
            f"{details.get('billed_amount')} {currency}: the difference is billed."
        )
    if line.kind == LineKind.TRUE_UP:
        notes.append(f"Minimum {details.get('minimum')}, spend {details.get('spend')} {currency}.")
    return notes


MISSING_METER_NOTE = (
    "The usage of this charge cannot be shown: the meter it bills no longer exists. "
    "It is counted as no usage here."
)


def without_usage(
    explained: list[LineExplained],
    lines: Sequence[InvoiceLine | LineDraft],
    missing_meters: Sequence[str],
) -> list[LineExplained]:
    """Lines on a meter that no longer exists keep their place without a quantity, and say
    why (``explained[i]`` explains ``lines[i]``)."""
    for shown, line in zip(explained, lines, strict=True):
        if line.meter_key and line.meter_key in missing_meters:
            shown.quantity = ""
            shown.notes.append(MISSING_METER_NOTE)
    return explained
