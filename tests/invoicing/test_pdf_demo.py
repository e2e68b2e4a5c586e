"""The demo's documents: an invoice PDF and a credit-note PDF rendered from ``seed_demo`` data,
read back and compared with the records, and written to ``test-artifacts/pdf/`` to look at."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Count

from billingsite.display import date_text, money_text, period_text, quantity_text
from invoicing.models import CreditNote, Invoice
from invoicing.services.credit_notes import credit_note_create
from invoicing.services.pdf import credit_note_pdf_render, invoice_pdf_render
from tests.invoicing.pdf_text import pdf_lines, row_of, save_artifact

pytestmark = pytest.mark.django_db


def test_demo_invoice_and_credit_note_pdfs_read_back_as_their_records() -> None:
    call_command("seed_demo", stdout=io.StringIO())
    invoice = (
        Invoice.objects.exclude(status="draft")
        .select_related("customer")
        .annotate(n=Count("lines"))
        .order_by("-n", "pk")
        .first()
    )
    assert invoice is not None
    tz, cur = invoice.customer.timezone, invoice.currency
    note = invoice.credit_notes.order_by("pk").first()
    if note is None:
        biggest = invoice.lines.filter(amount__gt=0).order_by("-amount", "pk").first()
        assert biggest is not None
        note = credit_note_create(
            invoice=invoice,
            reason="Demo: goodwill credit for a slow week",
            outcome="customer_credit",
            lines={biggest.pk: min(biggest.amount.amount, Decimal("10.00"))},
        )

    data = invoice_pdf_render(invoice)
    save_artifact(f"demo-invoice-{invoice.number}.pdf", data)
    pages = pdf_lines(data)
    shown = [row for page in pages for row in page]
    text = "\n".join(shown)
    assert shown[0].endswith(f"Invoice {invoice.number}")
    assert f"Bill to\n{invoice.customer.name}" in text
    assert f"Issue date {date_text(invoice.issued_at, tz)}" in text
    assert f"Due date {date_text(invoice.due_at, tz)}" in text
    assert period_text(invoice.period_start, invoice.period_end, tz) in text
    lines = list(invoice.lines.order_by("position"))
    assert lines
    for line in lines:
        if line.kind in ("discount", "tax", "credit"):
            assert f"{line.description} {money_text(line.amount, cur)}" in shown
            continue
        row = row_of(shown, line.description)
        assert row.endswith(f" {money_text(line.amount, cur)}"), row
        if line.quantity is not None:
            assert f" {quantity_text(line.quantity)}" in row, row
    assert f"Total {money_text(invoice.total, cur)}" in shown
    assert any(row.startswith(f"Credit note {note.number} of ") for row in shown)
    assert shown[-1] == f"Invoice {invoice.number} Page {len(pages)} of {len(pages)}"

    note = CreditNote.objects.get(pk=note.pk)
    data = credit_note_pdf_render(note)
    save_artifact(f"demo-credit-note-{note.number}.pdf", data)
    shown = [row for page in pdf_lines(data) for row in page]
    assert shown[0].endswith(f"Credit note {note.number}")
    assert f"Credits invoice {invoice.number}" in "\n".join(shown)
    for credited in note.lines.select_related("invoice_line"):
        assert row_of(shown, credited.description).endswith(money_text(credited.amount, cur))
    assert f"Total credited {money_text(note.total, cur)}" in shown
