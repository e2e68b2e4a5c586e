"""The invoice PDF: seller and customer blocks, number, issue and due dates, the period in the
customer's time zone (as on the usage pages), the charge lines with quantity (and the meter's
unit), unit price and amount, then discounts, tax and credits applied, the total, and the payment
status on the day it was rendered.

Every amount, quantity, date and period reads as ``billingsite.display`` writes it, so the PDF
says exactly what the admin and the usage pages say.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Protocol, cast

from django.db.models import Sum
from django.utils import timezone

from billingsite.display import date_text, money_text, period_text, quantity_text
from billingsite.money import amount_of, round_line
from invoicing.models import Invoice, LineKind
from invoicing.services.pdf.blocks import bill_to, heading
from invoicing.services.pdf.document import LEFT, RIGHT, ROW, Column, Document
from metering.selectors import meter_units

ZERO = Decimal(0)
AFTER_CHARGES = (LineKind.DISCOUNT, LineKind.TAX, LineKind.CREDIT)
DESCRIPTION_MM = 88.0
COLUMNS = (
    Column("Description", LEFT),
    Column("Quantity", 130.0, "right"),
    Column("Unit price", 162.0, "right"),
    Column("Amount", RIGHT, "right"),
)
OPEN = ("finalized", "past_due", "uncollectible")


class PdfLine(Protocol):
    description: str
    quantity: Decimal | None
    amount: Any  # Decimal, or Money on a stored line


def price_text(value: Any, currency: str) -> str:
    """A unit price: the currency's decimals, or more when the price has more (0.0015 USD)."""
    exact = Decimal(str(value))
    if amount_of(round_line(exact, currency)) == exact:
        return money_text(exact, currency)
    return f"{quantity_text(exact)} {currency}"


def unit_price(line: PdfLine, currency: str) -> str:
    """The line's one unit price, when it has one (per unit, a flat fee); else empty."""
    items = getattr(line, "breakdown", None) or []
    if len(items) == 1 and isinstance(items[0], dict):
        item = items[0]
        if item.get("type") in ("per_unit", "group") and item.get("unit_amount") is not None:
            return price_text(item["unit_amount"], currency)
        if item.get("type") == "flat" and item.get("amount_per_period") is not None:
            return price_text(item["amount_per_period"], currency)
    price = getattr(line, "price", None) or {}
    if price.get("model") == "per_unit" and price.get("unit_amount") is not None:
        return price_text(price["unit_amount"], currency)
    return ""


def sub_rows(line: PdfLine, currency: str) -> list[list[str]]:
    """Tiers and packages of a line priced in steps: label, units, unit price (no amounts,
    which the line rounds once)."""
    items = [i for i in getattr(line, "breakdown", None) or [] if isinstance(i, dict)]
    if len(items) < 2 and not any(i.get("type") in ("tier", "package") for i in items):
        return []
    rows = []
    for item in items:
        kind = item.get("type")
        if kind == "tier":
            upper = item.get("up_to")
            span = f"{quantity_text(Decimal(str(item['from_units'])))} \u2013 " + (
                quantity_text(Decimal(str(upper))) if upper is not None else "\u221e"
            )
            label, units, price = f"Tier {item['tier_index'] + 1} ({span})", "units", "unit_amount"
        elif kind == "package":
            size = quantity_text(Decimal(str(item["package_size"])))
            label, units, price = f"Packages of {size}", "packages", "package_amount"
        elif kind == "group":
            group = ", ".join(f"{k}={v}" for k, v in (item.get("group") or {}).items())
            label, units, price = group or "other", "units", "unit_amount"
        else:
            continue
        if item.get(units) is None or item.get(price) is None:
            continue
        rows.append(
            [
                f"    {label}",
                quantity_text(Decimal(str(item[units]))),
                price_text(item[price], currency),
                "",
            ]
        )
    return rows


def _charge_row(doc: Document, line: PdfLine, currency: str, units: dict[str, str]) -> None:
    quantity = "" if line.quantity is None else quantity_text(line.quantity)
    unit = units.get(getattr(line, "meter_key", "") or "", "")
    if quantity and unit:
        quantity = f"{quantity} {unit}"
    doc.row(
        [
            doc.wrap(line.description, DESCRIPTION_MM),
            quantity,
            unit_price(line, currency),
            money_text(line.amount, currency),
        ]
    )
    doc.set_text_color(90, 90, 90)
    for cells in sub_rows(line, currency):
        doc.row(cells)
    doc.set_text_color(0, 0, 0)


def _meter_units(lines: Sequence[PdfLine]) -> dict[str, str]:
    """Meter key -> unit for the lines' meters ("" for a meter without one)."""
    keys = {key for line in lines if (key := getattr(line, "meter_key", ""))}
    return meter_units(keys) if keys else {}


def _sum(lines: Iterable[PdfLine]) -> Decimal:
    return sum((amount_of(line.amount) for line in lines), ZERO)


def _total_row(doc: Document, label: str, amount: str, bold: bool = False) -> None:
    if not doc.room(ROW * 2):
        doc.new_page()
    doc.style(9.5 if bold else 9, bold=bold)
    doc.put(COLUMNS[2].x, label, "right")
    doc.put(RIGHT, amount, "right")
    doc.down(ROW + (1 if bold else 0))


def _lines_and_totals(doc: Document, invoice: Invoice, lines: list[PdfLine]) -> None:
    cur = invoice.currency
    kinds = [getattr(line, "kind", LineKind.USAGE) for line in lines]
    charges = [ln for ln, k in zip(lines, kinds, strict=True) if k not in AFTER_CHARGES]
    units = _meter_units(lines)
    doc.start_table(COLUMNS)
    for line in charges:
        _charge_row(doc, line, cur, units)
    doc.end_table()
    doc.rule(offset=-3.2)
    doc.down(1.5)
    if len(charges) < len(lines):
        _total_row(doc, "Subtotal", money_text(_sum(charges), cur))
    for kind in AFTER_CHARGES:
        for line, line_kind in zip(lines, kinds, strict=True):
            if line_kind != kind:
                continue
            _total_row(doc, line.description, money_text(line.amount, cur))
            included = (getattr(line, "details", None) or {}).get("included")
            if kind == LineKind.TAX and included is not None:
                _total_row(
                    doc, "of which included in the prices", money_text(Decimal(included), cur)
                )
    if len(charges) < len(lines):
        doc.rule(COLUMNS[1].x, RIGHT, offset=-3.2)
    _total_row(doc, "Total", money_text(invoice.total, cur), bold=True)


def payment_rows(invoice: Invoice) -> list[tuple[str, str]]:
    """(label, amount) rows of what happened to the invoice since it was issued."""
    cur, tz = invoice.currency, invoice.customer.timezone
    notes = list(invoice.credit_notes.order_by("created_at", "pk")) if invoice.pk else []
    rows = [
        (
            f"Credit note {note.number} of {date_text(note.created_at, tz)}",
            money_text(-amount_of(note.total), cur),
        )
        for note in notes
    ]
    if invoice.status == "void":
        return [*rows, (f"Voided on {date_text(invoice.voided_at, tz)}: nothing is due", "")]
    refunded = ZERO
    if invoice.pk:
        refunded = invoice.payments.aggregate(s=Sum("amount_refunded"))["s"] or ZERO
    if invoice.status == "paid":
        rows.append((f"Paid on {date_text(invoice.paid_at, tz)}", money_text(invoice.total, cur)))
    if refunded:
        rows.append(("Refunded", money_text(refunded, cur)))
    due = ZERO
    if invoice.status in OPEN:
        reduced = sum((amount_of(n.total) for n in notes if n.outcome == "reduce_amount_due"), ZERO)
        due = amount_of(invoice.total) - reduced
    rows.append((f"Amount due by {date_text(invoice.due_at, tz)}", money_text(due, cur)))
    return rows


def _payment(doc: Document, invoice: Invoice) -> None:
    rows = payment_rows(invoice)
    if not doc.room(ROW * (len(rows) + 3)):
        doc.new_page()
    doc.down(4)
    doc.style(10, bold=True)
    today = date_text(timezone.now(), invoice.customer.timezone)
    doc.put(LEFT, f"Payment status on {today}")
    doc.down(ROW + 1)
    for label, amount in rows:
        _total_row(doc, label, amount, bold=label.startswith("Amount due"))


def invoice_pdf_render(invoice: Invoice, lines: Iterable[PdfLine] | None = None) -> bytes:
    """The invoice as PDF bytes; ``lines`` default to the stored ones (the finalizer passes
    the lines it just stored, to spare a query while it holds the series counter)."""
    customer, tz = invoice.customer, invoice.customer.timezone or "UTC"
    stored = lines if lines is not None else invoice.lines.order_by("position")
    rows = cast(list[PdfLine], list(stored))
    title = f"Invoice {invoice.number}" if invoice.number else f"Draft invoice #{invoice.pk}"
    doc = Document(title)
    heading(
        doc,
        title,
        [
            ("Invoice number", invoice.number or "(draft)"),
            ("Issue date", date_text(invoice.issued_at, tz)),
            ("Due date", date_text(invoice.due_at, tz)),
            ("Period", period_text(invoice.period_start, invoice.period_end, tz)),
            ("Time zone", tz),
        ],
    )
    bill_to(doc, customer)
    _lines_and_totals(doc, invoice, rows)
    _payment(doc, invoice)
    return doc.finish()
