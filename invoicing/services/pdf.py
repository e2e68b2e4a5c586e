"""Render a finalized invoice to PDF with fpdf2 (pure Python, core fonts, no system libs).

The PDF shows what the invoice record holds (number, dates, lines, total); it is rendered once,
at finalization, and stored with the invoice. Core fonts are Latin-1, so other characters are
replaced rather than failing the finalization.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Protocol

from fpdf import FPDF

from billingsite.money import format_amount, round_line
from invoicing.models import Invoice


def _text(value: object) -> str:
    return str(value).encode("latin-1", "replace").decode("latin-1")


class PdfLine(Protocol):
    description: str
    quantity: Decimal | None
    amount: Decimal


def invoice_pdf_render(invoice: Invoice, lines: Iterable[PdfLine] | None = None) -> bytes:
    """The invoice as PDF bytes; ``lines`` default to the stored ones (the finalizer passes
    the lines it just stored, to spare a query while it holds the series counter)."""
    customer = invoice.customer
    currency = invoice.currency
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _text(f"Invoice {invoice.number}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    rows = [
        f"Customer: {customer.name} ({customer.external_id})",
        f"Period: {invoice.period_start:%Y-%m-%d %H:%M} to {invoice.period_end:%Y-%m-%d %H:%M} UTC",
        f"Issued: {invoice.issued_at:%Y-%m-%d}   Due: {invoice.due_at:%Y-%m-%d}",
    ]
    for row in rows:
        pdf.cell(0, 6, _text(row), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(120, 7, "Description", border="B")
    pdf.cell(30, 7, "Quantity", border="B", align="R")
    pdf.cell(40, 7, f"Amount ({currency})", border="B", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    for line in lines if lines is not None else invoice.lines.order_by("position"):
        quantity = "" if line.quantity is None else f"{Decimal(line.quantity).normalize():f}"
        pdf.cell(120, 6, _text(line.description)[:80])
        pdf.cell(30, 6, quantity[:16], align="R")
        pdf.cell(40, 6, format_amount(round_line(line.amount, currency), currency), align="R",
                 new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(150, 8, "Total", border="T")
    pdf.cell(40, 8, f"{format_amount(round_line(invoice.total, currency), currency)} {currency}",
             border="T", align="R", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
