"""Invoice PDFs are rendered after numbering and stored once: finalizing renders nothing, the
chunk (or the PDF task, or the first download) stores it, and from then on its bytes never
change: rendering again stores nothing, and the database refuses to change the stored name."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction

from invoicing.models import Invoice
from invoicing.services.billing import billing_run
from invoicing.services.invoice_pdfs import invoice_pdf_content, invoice_pdfs_store
from invoicing.tasks import invoice_pdfs_render_task
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract
from tests.usage_sources import fixed_usage

pytestmark = pytest.mark.django_db

FINALIZE_AT = datetime(2026, 2, 3, tzinfo=UTC)


def _finalized(defer_pdfs: bool, name: str = "Acme GmbH") -> Invoice:
    make_contract(CustomerFactory(external_id="acme", name=name))
    result = billing_run(
        now=FINALIZE_AT, usage=fixed_usage({"api_calls": 1234}), defer_pdfs=defer_pdfs
    )
    assert result.finalized == 1
    assert result.finalized_ids == [Invoice.objects.get().pk]
    return Invoice.objects.get()


def test_the_run_stores_each_finalized_invoice_pdf_after_the_chunk():
    invoice = _finalized(defer_pdfs=False)
    assert invoice.pdf.name.startswith(f"invoices/{invoice.number}")
    assert invoice.pdf.read().startswith(b"%PDF")


def test_a_deferred_pdf_is_rendered_on_first_download_and_never_changes():
    invoice = _finalized(defer_pdfs=True)
    assert not invoice.pdf  # finalizing rendered nothing
    first = invoice_pdf_content(invoice)
    assert first.startswith(b"%PDF")
    stored = Invoice.objects.get(pk=invoice.pk)
    assert stored.pdf.name.startswith(f"invoices/{invoice.number}")
    invoice.customer.name = "Renamed Ltd"
    invoice.customer.save()
    # Rendering again (the task, a second download) stores nothing and serves the same bytes.
    assert invoice_pdfs_store([invoice.pk]) == 0
    assert invoice_pdf_content(Invoice.objects.get(pk=invoice.pk)) == first
    assert Invoice.objects.get(pk=invoice.pk).pdf.name == stored.pdf.name


def test_the_pdf_task_stores_once_however_often_it_runs():
    invoice = _finalized(defer_pdfs=True)
    assert invoice_pdfs_render_task.run([invoice.pk]) == 1
    name = Invoice.objects.get(pk=invoice.pk).pdf.name
    assert invoice_pdfs_render_task.run([invoice.pk]) == 0
    assert Invoice.objects.get(pk=invoice.pk).pdf.name == name
    assert Invoice.objects.get(pk=invoice.pk).history.filter(pdf=name).exists()


def test_the_database_lets_a_pdf_be_set_once_and_never_changed():
    invoice = _finalized(defer_pdfs=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE invoicing_invoice SET pdf = %s WHERE id = %s", ["invoices/x.pdf", invoice.pk]
        )
        for other in ("invoices/y.pdf", ""):
            with pytest.raises(IntegrityError), transaction.atomic():
                cursor.execute(
                    "UPDATE invoicing_invoice SET pdf = %s WHERE id = %s", [other, invoice.pk]
                )
    assert Invoice.objects.get(pk=invoice.pk).pdf.name == "invoices/x.pdf"
    assert invoice_pdfs_store([invoice.pk]) == 0
