"""Credit notes get their own PDF (number, the invoice it corrects, reason, lines, totals),
downloadable where invoices are, by whoever may see the invoice; the invoice's stored PDF never
changes once issued, whatever happens to the invoice afterwards."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from accounts.services import staff_user_create
from billingsite.display import date_text, money_text, period_text
from invoicing.models import CreditNote, Invoice
from invoicing.services.credit_notes import credit_note_create
from invoicing.services.pdf import credit_note_pdf_render, invoice_pdf_render
from tests.invoicing.pdf_text import pdf_lines, row_of, save_artifact
from tests.usage_pages.conftest import World, build_world, signed_in_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db: None) -> World:
    import time_machine

    from tests.usage_pages.conftest import at

    with time_machine.travel(at(2026, 2, 3), tick=False):
        return build_world()


def partial_note(invoice: Invoice) -> CreditNote:
    fee = invoice.lines.get(description__startswith="Platform fee")
    return credit_note_create(
        invoice=invoice,
        reason="Two days of downtime in January, as agreed with Ms. Müller",
        outcome="reduce_amount_due",
        lines={fee.pk: Decimal("12.50")},
    )


def test_a_credit_note_pdf_reads_back_as_the_note(world: World) -> None:
    invoice = world.acme_invoice
    note = partial_note(invoice)
    tz, cur = "America/New_York", invoice.currency
    data = credit_note_pdf_render(note)
    save_artifact("factories-credit-note.pdf", data)
    (page,) = pdf_lines(data)
    text = "\n".join(page)
    assert page[0].endswith(f"Credit note {note.number}")
    assert f"Credit note number {note.number}" in text
    assert f"Issue date {date_text(note.created_at, tz)}" in text
    assert f"Credits invoice {invoice.number}" in text
    assert f"Invoice date {date_text(invoice.issued_at, tz)}" in text
    assert period_text(invoice.period_start, invoice.period_end, tz) in text
    assert "Credited to\nAcme" in text
    assert "Reason Two days of downtime in January, as agreed with Ms. Müller" in page
    assert "Applied as Lowers the amount due on the invoice" in page
    assert "Description Invoice line Credited" in page
    for line in note.lines.select_related("invoice_line"):
        row = row_of(page, line.description)
        assert row.endswith(
            f"{money_text(line.invoice_line.amount, cur)} {money_text(line.amount, cur)}"
        )
    assert f"Total credited {money_text(note.total, cur)}" in page
    assert f"Invoice {invoice.number} total {money_text(invoice.total, cur)}" in page
    assert "This credit note -12.50 USD" in page
    remaining = invoice.total.amount - Decimal("12.50")
    assert f"Invoice total after credits {money_text(remaining, cur)}" in page
    assert page[-1] == f"Credit note {note.number} Page 1 of 1"


def test_the_invoice_pdf_lists_the_note_and_the_lower_amount_due(world: World) -> None:
    invoice = world.acme_invoice
    note = partial_note(invoice)
    data = invoice_pdf_render(invoice)
    save_artifact("factories-invoice-with-credit-note.pdf", data)
    (page,) = pdf_lines(data)
    due = money_text(invoice.total.amount - Decimal("12.50"), invoice.currency)
    assert any(row.startswith(f"Credit note {note.number} of ") for row in page)
    assert any(row.startswith("Amount due by ") and row.endswith(due) for row in page)


def test_the_stored_invoice_pdf_never_changes(world: World, acme_client: Client) -> None:
    invoice = world.acme_invoice
    stored = invoice.pdf.read()
    note = partial_note(invoice)
    served = acme_client.get(f"/usage/invoices/{invoice.number}/pdf")
    # the issued document unchanged, as the download's first bytes; the note on a last page
    assert served.status_code == 200 and served.content.startswith(stored)
    assert Invoice.objects.get(pk=invoice.pk).pdf.read() == stored
    *issued, status = pdf_lines(served.content)
    assert issued == pdf_lines(stored)
    assert any(row.startswith(f"Credit note {note.number} ") for row in status)


@pytest.fixture
def acme_client(world: World) -> Client:
    return signed_in_client(world.acme, "acme-ops")


def test_the_customer_downloads_its_own_credit_notes_only(
    world: World, acme_client: Client
) -> None:
    own = partial_note(world.acme_invoice)
    other = partial_note(world.globex_invoice)
    base = f"/usage/invoices/{world.acme_invoice.number}"
    page = acme_client.get(f"{base}/")
    assert f"{base}/credit-notes/{own.number}/pdf".encode() in page.content
    response = acme_client.get(f"{base}/credit-notes/{own.number}/pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert f'filename="{own.number}.pdf"' in response["Content-Disposition"]
    assert pdf_lines(response.content)[0][0].endswith(f"Credit note {own.number}")
    # another customer's note, asked for under the own invoice or under its invoice: not found
    assert acme_client.get(f"{base}/credit-notes/{other.number}/pdf").status_code == 404
    theirs = f"/usage/invoices/{world.globex_invoice.number}/credit-notes/{other.number}/pdf"
    assert acme_client.get(theirs).status_code == 404
    assert Client().get(f"{base}/credit-notes/{own.number}/pdf").status_code == 302


def test_staff_download_a_credit_note_from_its_admin_page(world: World) -> None:
    note = partial_note(world.acme_invoice)
    staff_user_create(username="sue", role="support", password="pw-123456789")
    client = Client()
    assert client.login(username="sue", password="pw-123456789")
    change = client.get(f"/admin/invoicing/creditnote/{note.pk}/change/")
    url = f"/admin/invoicing/creditnote/{note.pk}/pdf/"
    assert change.status_code == 200 and url.encode() in change.content
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert pdf_lines(response.content)[0][0].endswith(f"Credit note {note.number}")
    assert client.get("/admin/invoicing/creditnote/999999/pdf/").status_code == 404
    assert Client().get(url).status_code == 302
