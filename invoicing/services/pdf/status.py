"""The payment-status page added to an invoice PDF when it is downloaded.

An issued invoice's PDF is stored once and never changes (``invoice_pdfs``), so the payment
status printed in it is the one of the day it was rendered. A download serves the stored
document unchanged and adds this one page after it, rendered at download time: where the invoice
stands now (credit notes, paid, refunded, amount due), as of the moment of the download in the
customer's time zone. The page says that it is not part of the issued invoice.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from billingsite.display import date_text, money_text, time_text
from invoicing.models import Invoice
from invoicing.services.pdf.blocks import bill_to, heading
from invoicing.services.pdf.document import LEFT, RIGHT, ROW, Document
from invoicing.services.pdf.invoice import payment_rows

NOTE_WIDTH_MM = RIGHT - LEFT


def payment_status_pdf_render(invoice: Invoice, at: datetime | None = None) -> bytes:
    """One page: the invoice's payment status as of ``at`` (default now), as PDF bytes."""
    tz = invoice.customer.timezone or "UTC"
    moment = at or timezone.now()
    as_of = time_text(moment, tz)
    doc = Document(
        f"Invoice {invoice.number}: payment status",
        page_note="Added when downloaded; not part of the issued invoice",
    )
    heading(
        doc,
        "Payment status",
        [
            ("Invoice number", invoice.number or "(draft)"),
            ("Issue date", date_text(invoice.issued_at, tz)),
            ("Due date", date_text(invoice.due_at, tz)),
            ("Invoice total", money_text(invoice.total, invoice.currency)),
            ("Status as of", as_of),
        ],
    )
    bill_to(doc, invoice.customer, label="Customer")
    doc.style(10, bold=True)
    doc.put(LEFT, f"Payment status as of {as_of}")
    doc.down(ROW + 1)
    for label, amount in payment_rows(invoice):
        bold = label.startswith("Amount due")
        doc.style(9.5 if bold else 9, bold=bold)
        doc.put(LEFT, label)
        doc.put(RIGHT, amount, "right")
        doc.down(ROW + (1 if bold else 0))
    doc.down(4)
    doc.style(8.5)
    note = (
        f"This page was added when the invoice was downloaded, on {as_of}. The pages before "
        f"it are invoice {invoice.number} as issued, unchanged; the payment status printed "
        "there is the one of the day the invoice was rendered."
    )
    for line in doc.wrap(note, NOTE_WIDTH_MM, max_lines=6):
        doc.put(LEFT, line)
        doc.down(4.2)
    return doc.finish()
