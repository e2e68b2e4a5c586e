"""The credit-note PDF: seller and customer blocks, the note's number and date, the invoice it
corrects, the reason and what happens to the money (in the customer's words), the credited
lines beside the invoice lines they credit, the total, and where the invoice stands after it."""

from __future__ import annotations

from decimal import Decimal

from billingsite.display import date_text, money_text, period_text
from billingsite.money import amount_of
from invoicing.models import CreditNote
from invoicing.services.pdf.blocks import bill_to, heading
from invoicing.services.pdf.document import LEFT, RIGHT, ROW, Column, Document

ZERO = Decimal(0)
OUTCOME_WORDS = {
    "reduce_amount_due": "Lowers the amount due on the invoice",
    "refund": "Refunded to the original payment method",
    "customer_credit": "Added to your account as credit for future invoices",
}
COLUMNS = (
    Column("Description", LEFT),
    Column("Invoice line", 160.0, "right"),
    Column("Credited", RIGHT, "right"),
)


def _summary(doc: Document, note: CreditNote) -> None:
    invoice, cur = note.invoice, note.currency
    credited = sum(
        (amount_of(n.total) for n in invoice.credit_notes.all() if n.created_at <= note.created_at),
        ZERO,
    )
    rows = [
        (f"Invoice {invoice.number} total", money_text(invoice.total, cur)),
        ("This credit note", money_text(-amount_of(note.total), cur)),
        ("Credited on the invoice so far", money_text(-credited, cur)),
        ("Invoice total after credits", money_text(amount_of(invoice.total) - credited, cur)),
    ]
    doc.down(4)
    for label, amount in rows:
        if not doc.room(ROW * 2):
            doc.new_page()
        doc.style(9)
        doc.put(COLUMNS[1].x, label, "right")
        doc.put(RIGHT, amount, "right")
        doc.down(ROW)


def credit_note_pdf_render(credit_note: CreditNote) -> bytes:
    """The credit note as PDF bytes (rendered on request; a note never changes)."""
    note, invoice = credit_note, credit_note.invoice
    customer, cur = invoice.customer, note.currency
    tz = customer.timezone or "UTC"
    title = f"Credit note {note.number}"
    doc = Document(title)
    heading(
        doc,
        title,
        [
            ("Credit note number", note.number),
            ("Issue date", date_text(note.created_at, tz)),
            ("Credits invoice", invoice.number or ""),
            ("Invoice date", date_text(invoice.issued_at, tz)),
            ("Period", period_text(invoice.period_start, invoice.period_end, tz)),
        ],
    )
    bill_to(doc, customer, "Credited to")
    doc.style(9, bold=True)
    doc.put(LEFT, "Reason")
    doc.style(9)
    for line in doc.wrap(note.reason, RIGHT - LEFT - 25):
        doc.put(LEFT + 25, line)
        doc.down(ROW)
    doc.style(9, bold=True)
    doc.put(LEFT, "Applied as")
    doc.style(9)
    doc.put(LEFT + 25, OUTCOME_WORDS.get(note.outcome, note.get_outcome_display()))
    doc.down(ROW * 2)
    doc.start_table(COLUMNS)
    for credited in note.lines.select_related("invoice_line").order_by("pk"):
        doc.row(
            [
                doc.wrap(credited.description, 110.0),
                money_text(credited.invoice_line.amount, cur),
                money_text(credited.amount, cur),
            ]
        )
    doc.end_table()
    doc.rule(offset=-3.2)
    doc.down(1.5)
    doc.style(9.5, bold=True)
    doc.put(COLUMNS[1].x, "Total credited", "right")
    doc.put(RIGHT, money_text(note.total, cur), "right")
    doc.down(ROW)
    _summary(doc, note)
    return doc.finish()
