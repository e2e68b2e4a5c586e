"""Invoice PDFs: rendered after numbering, outside the finalizing transaction, stored once.

Finalization does not render: the PDF was the largest single CPU cost of finalizing and was
rendered while the series counter's row lock serialized every other finalization. The billing
run renders the PDFs of a chunk once the chunk is billed (``billing_run``), or leaves them to
the ``invoicing.billing.render_pdfs`` task (the Celery chunks do, so PDFs render in parallel
with the rest of the run); a reader who finds none (download, dispute evidence) renders it on
first use through ``invoice_pdf_content``.

However many render it, an invoice's PDF is stored once: the rows are locked (a batch at a
time) and ``pdf`` is written only while empty (a renderer that loses the race deletes its
file), and the database lets an issued invoice's ``pdf`` go from empty to a name but never
change after that (migration 0012), so the bytes of a finalized invoice's PDF never change
once rendered. The PDF shows the frozen invoice and lines; the customer's name is the one at
rendering time, seconds after numbering on the billing run's path.

Downloads (the admin, the usage pages) serve ``invoice_pdf_download``: the stored document,
byte for byte, followed by one page rendered at download time with the invoice's payment status
as of that moment (``pdf.status``). The page is added as a PDF incremental update: the
downloaded file starts with the stored bytes unchanged and appends the new page objects after
them, so the issued document can be checked against the download (its first ``len(stored)``
bytes) and a PDF reader's "previous version" is the issued invoice. Dispute evidence and other
records keep using the stored document alone (``invoice_pdf_content``).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from datetime import datetime

from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import transaction
from django.db.models import Prefetch

from invoicing.models import Invoice, InvoiceLine
from invoicing.services.pdf import invoice_pdf_render, payment_status_pdf_render
from invoicing.states import InvoiceStatus

logger = logging.getLogger(__name__)


def _storage() -> Storage:
    return Invoice._meta.get_field("pdf").storage  # type: ignore[attr-defined,no-any-return]


def invoice_pdfs_store(invoice_ids: Iterable[int]) -> int:
    """Render and store the PDFs of these issued invoices that have none: two reads, the
    files, then one short transaction that locks the rows and names the files of those still
    without one (with their history rows); returns how many this call stored."""
    lines = Prefetch("lines", InvoiceLine.objects.order_by("position"))
    invoices = list(
        Invoice.objects.filter(pk__in=list(invoice_ids), pdf="")
        .exclude(status=InvoiceStatus.DRAFT)
        .select_related("customer")
        .prefetch_related(lines)
        .order_by("pk")
    )
    if not invoices:
        return 0
    storage = _storage()
    names = {
        invoice.pk: storage.save(
            f"invoices/{invoice.number}.pdf",
            ContentFile(invoice_pdf_render(invoice, list(invoice.lines.all()))),
        )
        for invoice in invoices
    }
    try:
        locked = _name_files(names)
    except Exception:
        for name in names.values():
            storage.delete(name)
        raise
    free = {invoice.pk for invoice in locked}
    for pk, name in names.items():
        if pk not in free:
            storage.delete(name)  # another renderer stored first: theirs is the invoice's PDF
    return len(locked)


@transaction.atomic
def _name_files(names: dict[int, str]) -> list[Invoice]:
    """Give each invoice still without a PDF its file, under the row lock; those named. The
    rows are read again under the lock: their history rows must show them as they are now."""
    locked = list(
        Invoice.objects.select_for_update()
        .filter(pk__in=names, pdf="")
        .exclude(status=InvoiceStatus.DRAFT)
        .order_by("pk")
    )
    for invoice in locked:
        invoice.pdf.name = names[invoice.pk]
    Invoice.objects.bulk_update(locked, ["pdf"])
    # the history rows record when each PDF was stored, as a save would
    Invoice.history.bulk_history_create(locked, update=True)  # type: ignore[attr-defined]
    return locked


def invoice_pdf_content(invoice: Invoice) -> bytes:
    """The stored PDF of an issued invoice, rendered and stored first if it has none yet."""
    if not invoice.pdf:
        invoice_pdfs_store([invoice.pk])
        invoice.pdf.name = Invoice.objects.values_list("pdf", flat=True).get(pk=invoice.pk)
    storage, name = _storage(), invoice.pdf.name
    if name and storage.exists(name):
        with storage.open(name, "rb") as handle:
            return handle.read()  # type: ignore[no-any-return]
    logger.warning("invoice %s has no stored PDF; rendering it on the fly", invoice.pk)
    return invoice_pdf_render(invoice)


def with_status_page(stored: bytes, status_page: bytes) -> bytes:
    """``stored`` unchanged, then an incremental update that appends ``status_page``'s page."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(io.BytesIO(stored), incremental=True)
    for page in PdfReader(io.BytesIO(status_page)).pages:
        writer.add_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def invoice_pdf_download(invoice: Invoice, at: datetime | None = None) -> bytes:
    """What a reader downloads: the stored PDF of the issued invoice (unchanged, as a prefix)
    and a last page with its payment status as of ``at`` (default now, customer's zone). A
    draft has no stored document and no payment status: it is served as rendered."""
    if invoice.status == InvoiceStatus.DRAFT:
        return invoice_pdf_render(invoice)
    return with_status_page(invoice_pdf_content(invoice), payment_status_pdf_render(invoice, at))
