"""Downloading an invoice PDF: the stored, issued document unchanged (an exact prefix of the
download) and one last page with the payment status as of the download, read back as text; the
quantity column carries the meter's unit."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from accounts.services import staff_user_create
from billingsite.display import date_text
from invoicing.models import Invoice, Payment
from invoicing.services.billing import billing_run
from invoicing.services.credit_notes import credit_note_create
from invoicing.services.invoice_pdfs import invoice_pdf_content, invoice_pdf_download
from invoicing.services.invoices import invoice_mark_paid
from metering.services import meter_create
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract
from tests.invoicing.pdf_text import pdf_lines, row_of, save_artifact
from tests.usage_sources import fixed_usage

pytestmark = pytest.mark.django_db
TZ = "America/New_York"
PASSWORD = "staff-password-123"


def billed(external_id: str = "acme") -> Invoice:
    if not Invoice.objects.exists():
        meter_create(
            key="api_calls",
            name="API calls",
            unit="calls",
            event_type="api_request",
            aggregation="count",
        )
    make_contract(CustomerFactory(external_id=external_id, name="Acme GmbH", timezone=TZ))
    billing_run(now=datetime(2026, 2, 3, tzinfo=UTC), usage=fixed_usage({"api_calls": 1234}))
    invoice = Invoice.objects.select_related("customer").get(customer__external_id=external_id)
    assert invoice.pdf  # the run stored the issued document
    return invoice


def stored_bytes(invoice: Invoice) -> bytes:
    with invoice.pdf.open("rb") as handle:
        return handle.read()  # type: ignore[no-any-return]


def test_the_quantity_column_carries_the_meters_unit() -> None:
    invoice = billed()
    (page,) = pdf_lines(stored_bytes(invoice))
    assert row_of(page, "API calls").endswith("1,234 calls 0.01 USD 12.34 USD")
    assert row_of(page, "Platform fee") == "Platform fee 100.00 USD 100.00 USD"  # no meter


def test_a_download_after_payment_shows_the_issued_pdf_unchanged_and_the_status_now() -> None:
    invoice = billed()
    issued = stored_bytes(invoice)
    digest = hashlib.sha256(issued).hexdigest()
    (issued_page,) = pdf_lines(issued)
    assert f"Amount due by {date_text(invoice.due_at, TZ)} 112.34 USD" in issued_page

    paid_at = datetime(2026, 2, 10, 15, tzinfo=UTC)
    invoice_mark_paid(invoice=invoice, now=paid_at)
    Payment.objects.create(
        customer=invoice.customer,
        invoice=invoice,
        stripe_payment_intent_id="pi_download_1",
        currency="USD",
        amount=Decimal("112.34"),
        amount_captured=Decimal("112.34"),
        amount_refunded=Decimal("20.00"),
        status="succeeded",
    )
    invoice = Invoice.objects.select_related("customer").get(pk=invoice.pk)
    with time_machine.travel(datetime(2026, 2, 12, 3, 30, tzinfo=UTC), tick=False):
        download = invoice_pdf_download(invoice)
    save_artifact("invoice-download-with-status.pdf", download)

    # The issued document is untouched: the stored file, and as the download's first bytes.
    assert hashlib.sha256(stored_bytes(invoice)).hexdigest() == digest
    assert invoice_pdf_content(invoice) == issued
    assert download[: len(issued)] == issued and len(download) > len(issued)

    first, status = pdf_lines(download)
    assert first == issued_page  # the issued page reads as it did, its old status included
    text = "\n".join(status)
    # Feb 12, 03:30 UTC is Feb 11, 22:30 in New York: the customer's day and zone.
    assert "Payment status as of Feb 11, 2026, 22:30 EST" in status
    assert "Paid on Feb 10, 2026 112.34 USD" in status
    assert "Refunded 20.00 USD" in status
    assert f"Amount due by {date_text(invoice.due_at, TZ)} 0.00 USD" in status
    assert f"Invoice number {invoice.number}" in text
    assert "Added when downloaded; not part of the issued invoice" in status[-1]


def test_a_credit_note_after_issue_shows_on_the_download_only() -> None:
    invoice = billed()
    issued = stored_bytes(invoice)
    note = credit_note_create(
        invoice=invoice, reason="Outage credit", outcome="reduce_amount_due", lines=None
    )
    download = invoice_pdf_download(Invoice.objects.select_related("customer").get(pk=invoice.pk))
    assert download.startswith(issued)
    (issued_page,), (first, status) = pdf_lines(issued), pdf_lines(download)
    line = f"Credit note {note.number} of {date_text(note.created_at, TZ)} -112.34 USD"
    assert line not in issued_page and first == issued_page
    assert line in status
    assert f"Amount due by {date_text(invoice.due_at, TZ)} 0.00 USD" in status


def test_the_admin_and_usage_page_downloads_serve_the_status_page() -> None:
    invoice = billed()
    issued = stored_bytes(invoice)
    invoice_mark_paid(invoice=invoice, now=datetime(2026, 2, 10, 15, tzinfo=UTC))
    staff_user_create(username="finance-1", role="finance", password=PASSWORD)
    client = Client()
    assert client.login(username="finance-1", password=PASSWORD)
    change = client.get(f"/admin/invoicing/invoice/{invoice.pk}/change/")
    url = f"/admin/invoicing/invoice/{invoice.pk}/pdf/"
    assert url in change.content.decode()
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert f'filename="{invoice.number}.pdf"' in response["Content-Disposition"]
    assert response.content.startswith(issued)
    assert "Paid on Feb 10, 2026 112.34 USD" in pdf_lines(response.content)[-1]
    assert Client().get(url).status_code == 302  # signed-out: to the login page
