"""Invoice PDFs: rendered after numbering, outside the finalizing transaction, stored once.

Finalization does not render: the PDF was the largest single CPU cost of finalizing and was
rendered while the series counter's row lock serialized every other finalization. The billing
run renders the PDFs of a chunk once the chunk is billed (``billing_run``), or leaves them to
the ``invoicing.billing.render_pdfs`` task (the Celery chunks do, so PDFs render in parallel
with the rest of the run); a reader who finds none (download, dispute evidence) renders it on
first use through ``invoice_pdf_content``.

However many render it, an invoice's PDF is stored once: the row is locked and its ``pdf`` is
written only while empty (a renderer that loses the race deletes its file), and the database
lets an issued invoice's ``pdf`` go from empty to a name but never change after that
(migration 0012), so the bytes of a finalized invoice's PDF never change once rendered. The
PDF shows the frozen invoice and lines; the customer's name is the one at rendering time,
seconds after numbering on the billing run's path.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import transaction
from django.db.models import Prefetch

from invoicing.models import Invoice, InvoiceLine
from invoicing.services.pdf import invoice_pdf_render
from invoicing.states import InvoiceStatus

logger = logging.getLogger(__name__)


def _storage() -> Storage:
    return Invoice._meta.get_field("pdf").storage  # type: ignore[attr-defined,no-any-return]


def invoice_pdfs_store(invoice_ids: Iterable[int]) -> int:
    """Render and store the PDFs of these issued invoices that have none (two reads for all
    of them, then one short transaction each); returns how many this call stored."""
    lines = Prefetch("lines", InvoiceLine.objects.order_by("position"))
    invoices = (
        Invoice.objects.filter(pk__in=list(invoice_ids), pdf="")
        .exclude(status=InvoiceStatus.DRAFT)
        .select_related("customer")
        .prefetch_related(lines)
        .order_by("pk")
    )
    return sum(_store(invoice) for invoice in invoices)


def _store(invoice: Invoice) -> bool:
    content = invoice_pdf_render(invoice, list(invoice.lines.all()))
    storage = _storage()
    name = storage.save(f"invoices/{invoice.number}.pdf", ContentFile(content))
    with transaction.atomic():
        locked = Invoice.objects.select_for_update().filter(pk=invoice.pk).first()
        if locked is not None and not locked.pdf and locked.status != InvoiceStatus.DRAFT:
            locked.pdf.name = name
            locked.save(update_fields=["pdf"])  # its history row records when it was stored
            invoice.pdf.name = name
            return True
    storage.delete(name)  # another renderer stored first: theirs is the invoice's PDF
    return False


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
