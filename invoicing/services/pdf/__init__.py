"""Render a finalized invoice to PDF with fpdf2 (pure Python, core fonts, no system libs).

The PDF shows what the invoice record holds (number, dates, lines, total); it is rendered once,
at finalization, and stored with the invoice. Core fonts are Latin-1, so other characters are
replaced rather than failing the finalization.

Text is placed with ``FPDF.text`` at computed positions (amounts right-aligned by their string
width) rather than with ``cell``: the layout is a fixed table, and ``cell``'s line-breaking and
markup machinery made rendering the largest single cost of finalizing an invoice. Long invoices
continue on further pages, each repeating the column headings.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Protocol

from fpdf import FPDF

from billingsite.money import amount_of, format_amount, round_line
from invoicing.models import Invoice

LEFT, RIGHT = 15.0, 195.0  # mm on A4 (210 wide)
QUANTITY_RIGHT = 155.0
TOP, BOTTOM = 20.0, 280.0
ROW = 6.0
DESCRIPTION_CHARS = 80


def _text(value: object) -> str:
    return str(value).encode("latin-1", "replace").decode("latin-1")


class PdfLine(Protocol):
    description: str
    quantity: Decimal | None
    amount: Decimal


class _Page:
    """A cursor over the page: rows go down from the top, a new page when one is full."""

    def __init__(self, pdf: FPDF, currency: str) -> None:
        self.pdf = pdf
        self.currency = currency
        self.y = TOP

    def right(self, x: float, text: str) -> None:
        self.pdf.text(x - self.pdf.get_string_width(text), self.y, text)

    def headings(self) -> None:
        self.pdf.set_font("Helvetica", "B", 10)
        self.pdf.text(LEFT, self.y, "Description")
        self.right(QUANTITY_RIGHT, "Quantity")
        self.right(RIGHT, f"Amount ({self.currency})")
        self.pdf.line(LEFT, self.y + 2, RIGHT, self.y + 2)
        self.y += ROW + 1
        self.pdf.set_font("Helvetica", size=9)

    def row(self, description: str, quantity: str, amount: str) -> None:
        if self.y > BOTTOM:
            self.pdf.add_page()
            self.y = TOP
            self.headings()
        self.pdf.text(LEFT, self.y, _text(description)[:DESCRIPTION_CHARS])
        self.right(QUANTITY_RIGHT, quantity[:16])
        self.right(RIGHT, amount)
        self.y += ROW


def invoice_pdf_render(invoice: Invoice, lines: Iterable[PdfLine] | None = None) -> bytes:
    """The invoice as PDF bytes; ``lines`` default to the stored ones (the finalizer passes
    the lines it just stored, to spare a query while it holds the series counter)."""
    customer = invoice.customer
    currency = invoice.currency
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.add_page()
    page = _Page(pdf, currency)
    pdf.set_font("Helvetica", "B", 16)
    pdf.text(LEFT, page.y, _text(f"Invoice {invoice.number}"))
    page.y += 10
    pdf.set_font("Helvetica", size=10)
    for row in (
        f"Customer: {customer.name} ({customer.external_id})",
        f"Period: {invoice.period_start:%Y-%m-%d %H:%M} to {invoice.period_end:%Y-%m-%d %H:%M} UTC",
        f"Issued: {invoice.issued_at:%Y-%m-%d}   Due: {invoice.due_at:%Y-%m-%d}",
    ):
        pdf.text(LEFT, page.y, _text(row))
        page.y += ROW
    page.y += 4
    page.headings()
    for line in lines if lines is not None else invoice.lines.order_by("position"):
        quantity = "" if line.quantity is None else f"{Decimal(line.quantity).normalize():f}"
        page.row(
            line.description,
            quantity,
            format_amount(round_line(amount_of(line.amount), currency), currency),
        )
    if page.y > BOTTOM:
        pdf.add_page()
        page.y = TOP
    pdf.line(LEFT, page.y - ROW + 2, RIGHT, page.y - ROW + 2)
    page.y += 2
    pdf.set_font("Helvetica", "B", 11)
    pdf.text(LEFT, page.y, "Total")
    total = format_amount(round_line(amount_of(invoice.total), currency), currency)
    page.right(RIGHT, f"{total} {currency}")
    return bytes(pdf.output())
