"""Invoice and credit-note PDFs (fpdf2, bundled Unicode fonts, no system libraries).

``invoice_pdf_render(invoice, lines=None)`` and ``credit_note_pdf_render(credit_note)`` return
the document's bytes. A finalized invoice's PDF is rendered once and stored with it; it is never
rendered again once stored, so its "payment status" block says what was true on the day it was
rendered, and says which day that was. Downloads serve the stored file followed by one page
rendered at download time, ``payment_status_pdf_render``: the status as of the download.

Layout: ``document`` (pages, Unicode text runs, paged tables with repeated headings and
"Page n of N"), ``blocks`` (seller from ``INVOICE_SELLER_*`` settings, customer billing details),
``invoice`` and ``credit_note``.
"""

from invoicing.services.pdf.credit_note import credit_note_pdf_render
from invoicing.services.pdf.invoice import PdfLine, invoice_pdf_render
from invoicing.services.pdf.status import payment_status_pdf_render

__all__ = ["PdfLine", "credit_note_pdf_render", "invoice_pdf_render", "payment_status_pdf_render"]
