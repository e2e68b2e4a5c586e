"""The invoice PDF says what the invoice record says, read back as text (pdfplumber): seller and
customer blocks, number, dates and period in the customer's zone, every line with its quantity
and amount, discounts, tax and credits, the total, the payment status; long invoices continue
on numbered pages with their headings repeated; names in any script render."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.test import override_settings

from accounts.models import Customer
from billingsite.display import date_text, money_text, period_text, quantity_text
from invoicing.models import Invoice, Payment
from invoicing.services.billing import billing_run
from invoicing.services.credit_notes import credit_note_create
from invoicing.services.invoices import invoice_mark_paid
from invoicing.services.pdf import invoice_pdf_render
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract
from tests.invoicing.pdf_text import pdf_fonts, pdf_lines, row_of
from tests.usage_sources import fixed_usage

pytestmark = pytest.mark.django_db

SELLER = {
    "INVOICE_SELLER_NAME": "Tally Test GmbH",
    "INVOICE_SELLER_ADDRESS": "Hauptstraße 5|10115 Berlin|Germany",
    "INVOICE_SELLER_TAX_ID": "DE123456789",
    "INVOICE_SELLER_EMAIL": "invoices@tally.test",
}


def billed(**customer: Any) -> Invoice:
    fields = {
        "external_id": "acme",
        "name": "Acme GmbH",
        "timezone": "America/New_York",
        "address_line1": "1 Main Street",
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62701",
        "country": "US",
        "tax_id": "US-98-7654321",
        "email": "ap@acme.test",
        **customer,
    }
    make_contract(CustomerFactory(**fields))
    billing_run(now=datetime(2026, 2, 3, tzinfo=UTC), usage=fixed_usage({"api_calls": 1234}))
    return Invoice.objects.select_related("customer").get(
        customer__external_id=fields["external_id"]
    )


@override_settings(**SELLER)
def test_a_finalized_invoice_pdf_reads_back_as_the_invoice() -> None:
    invoice = billed()
    tz, cur = "America/New_York", invoice.currency
    (page,) = pdf_lines(invoice_pdf_render(invoice))
    text = "\n".join(page)
    assert page[0] == f"Tally Test GmbH Invoice {invoice.number}"
    for seller in ("Hauptstraße 5", "10115 Berlin", "Germany", "Tax ID: DE123456789"):
        assert seller in text
    for buyer in ("Bill to", "Acme GmbH", "1 Main Street", "Springfield, IL 62701"):
        assert f"\n{buyer}" in text, buyer
    assert "Tax ID: US-98-7654321" in text and "ap@acme.test" in text
    assert f"Invoice number {invoice.number}" in text
    assert f"Issue date {date_text(invoice.issued_at, tz)}" in text
    assert f"Due date {date_text(invoice.due_at, tz)}" in text
    # with times (periods are UTC months, the customer is in New York): below its label
    period = period_text(invoice.period_start, invoice.period_end, tz)
    assert period == "Dec 31, 2025, 19:00 EST – Jan 31, 2026, 19:00 EST"
    assert any(row.endswith(f" {period}") for row in page) and " Period" in text
    assert "Description Quantity Unit price Amount" in page
    lines = list(invoice.lines.order_by("position"))
    assert len(lines) == 2
    for line in lines:
        row = row_of(page, line.description)
        assert row.endswith(money_text(line.amount, cur))
        if line.quantity is not None:
            assert f" {quantity_text(line.quantity)} " in row
    assert row_of(page, "API calls").endswith("1,234 0.01 USD 12.34 USD")  # qty, unit, amount
    assert f"Total {money_text(invoice.total, cur)}" in page
    assert money_text(invoice.total, cur) == "112.34 USD"  # 100.00 fee + 1234 x 0.01
    assert f"Amount due by {date_text(invoice.due_at, tz)} 112.34 USD" in page
    assert page[-1] == f"Invoice {invoice.number} Page 1 of 1"


def test_the_stored_pdf_is_the_rendered_one() -> None:
    invoice = billed()
    stored = pdf_lines(invoice.pdf.read())
    again = pdf_lines(invoice_pdf_render(invoice))
    assert stored == again  # the finalizer's lines and the stored lines read the same


def test_payment_status_lists_credit_notes_payment_and_what_is_due() -> None:
    invoice = billed()
    tz = "America/New_York"
    note = credit_note_create(
        invoice=invoice, reason="Outage credit", outcome="reduce_amount_due", lines=None
    )
    (page,) = pdf_lines(invoice_pdf_render(invoice))
    assert f"Credit note {note.number} of {date_text(note.created_at, tz)} -112.34 USD" in page
    assert f"Amount due by {date_text(invoice.due_at, tz)} 0.00 USD" in page

    other = billed(external_id="globex", name="Globex")
    paid = invoice_mark_paid(invoice=other, now=datetime(2026, 2, 10, 15, tzinfo=UTC))
    (page,) = pdf_lines(invoice_pdf_render(paid))
    assert "Paid on Feb 10, 2026 112.34 USD" in page
    assert f"Amount due by {date_text(paid.due_at, tz)} 0.00 USD" in page
    assert not any(row.startswith("Refunded") for row in page)

    Payment.objects.create(
        customer=paid.customer,
        invoice=paid,
        stripe_payment_intent_id="pi_pdf_1",
        currency="USD",
        amount=Decimal("112.34"),
        amount_captured=Decimal("112.34"),
        amount_refunded=Decimal("20.00"),
        status="succeeded",
    )
    (page,) = pdf_lines(invoice_pdf_render(paid))
    assert "Refunded 20.00 USD" in page


@dataclass
class Line:
    description: str
    quantity: Decimal | None
    amount: Decimal
    kind: str = "usage"
    details: dict[str, Any] = field(default_factory=dict)


def unsaved_invoice(name: str, currency: str = "KWD", total: str = "0") -> Invoice:
    customer = Customer(name=name, external_id="x", timezone="Asia/Tokyo", country="JP")
    return Invoice(
        customer=customer,
        number="INV-000042",
        currency=currency,
        status="finalized",
        period_start=datetime(2025, 12, 31, 15, tzinfo=UTC),  # Jan 1, 00:00 in Tokyo
        period_end=datetime(2026, 1, 31, 15, tzinfo=UTC),
        issued_at=datetime(2026, 2, 2, tzinfo=UTC),
        due_at=datetime(2026, 3, 4, tzinfo=UTC),
        total=Decimal(total),
    )


def test_a_200_line_invoice_numbers_its_pages_and_repeats_the_headings() -> None:
    invoice = unsaved_invoice("Long Ltd", total="202.1")
    lines = [Line(f"Usage line {n}", Decimal(n), Decimal("1.0105")) for n in range(200)]
    pages = pdf_lines(invoice_pdf_render(invoice, lines))
    count = len(pages)
    assert count >= 4
    for number, page in enumerate(pages, start=1):
        assert page[-1] == f"Invoice INV-000042 Page {number} of {count}"
        assert "Description Quantity Unit price Amount" in page
        if number > 1:
            assert page[0] == "Invoice INV-000042 (continued)"
    rows = [row for page in pages for row in page if row.startswith("Usage line ")]
    assert rows == [f"Usage line {n} {n} 1.011 KWD" for n in range(200)]  # KWD: 3 decimals
    shown = [row for page in pages for row in page]
    assert shown.count("Total 202.100 KWD") == 1
    assert any(row.endswith(" Period Jan 1 – Jan 31, 2026") for row in shown)  # Tokyo, not UTC


def test_discounts_tax_and_credits_follow_a_subtotal() -> None:
    invoice = unsaved_invoice("Mixed KK", currency="EUR", total="95.20")
    lines = [
        Line("Platform fee", None, Decimal("100.00"), "fixed"),
        Line("Launch discount 20%", None, Decimal("-20.00"), "discount"),
        Line("VAT 19% (DE)", None, Decimal("15.20"), "tax"),
        Line("Credit applied (prepaid)", None, Decimal("-0.00"), "credit"),
    ]
    (page,) = pdf_lines(invoice_pdf_render(invoice, lines))
    at = page.index("Subtotal 100.00 EUR")
    assert page[at : at + 5] == [
        "Subtotal 100.00 EUR",
        "Launch discount 20% -20.00 EUR",
        "VAT 19% (DE) 15.20 EUR",
        "Credit applied (prepaid) 0.00 EUR",
        "Total 95.20 EUR",
    ]


def test_names_with_accents_and_cjk_render_in_embedded_fonts() -> None:
    name = "Zoë Ñandú Ærøskøbing 東京株式会社 한국 ☃"
    invoice = unsaved_invoice(name)
    data = invoice_pdf_render(invoice, [Line("Übersetzung 翻訳", Decimal(3), Decimal(1))])
    (page,) = pdf_lines(data)
    assert name in page
    assert row_of(page, "Übersetzung 翻訳").startswith("Übersetzung 翻訳 3 ")
    assert pdf_fonts(data) == {"DejaVuSansBook", "DejaVuSansBold", "DroidSansFallback"}


def test_latin_only_invoices_do_not_embed_the_cjk_font() -> None:
    data = invoice_pdf_render(unsaved_invoice("Plain Ltd"), [Line("x", None, Decimal(1))])
    assert pdf_fonts(data) == {"DejaVuSansBook", "DejaVuSansBold"}
