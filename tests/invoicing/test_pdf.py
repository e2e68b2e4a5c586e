"""The invoice PDF says what the invoice record says: number, customer, every line with its
quantity and rounded amount, the total; long invoices continue on further pages."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounts.models import Customer
from invoicing.models import Invoice
from invoicing.services.billing import billing_run
from invoicing.services.pdf import invoice_pdf_render
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract
from tests.usage_sources import fixed_usage

pytestmark = pytest.mark.django_db


def pdf_pages(data: bytes) -> list[list[str]]:
    """The strings each page's content stream shows (``(...) Tj``), in order."""
    assert data.startswith(b"%PDF")
    pages = []
    for raw in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            content = zlib.decompress(raw)
        except zlib.error:
            content = raw
        shown = re.findall(rb"\(((?:[^()\\]|\\.)*)\) ?Tj", content)
        if shown:
            pages.append([re.sub(rb"\\(.)", rb"\1", s).decode("latin-1") for s in shown])
    return pages


def test_a_finalized_invoice_pdf_shows_its_number_lines_and_total():
    make_contract(CustomerFactory(external_id="acme", name="Acme GmbH"))
    billing_run(now=datetime(2026, 2, 3, tzinfo=UTC), usage=fixed_usage({"api_calls": 1234}))
    invoice = Invoice.objects.get()
    (page,) = pdf_pages(invoice.pdf.read())
    assert page[0] == f"Invoice {invoice.number}"
    assert "Customer: Acme GmbH (acme)" in page
    for line in invoice.lines.all():
        position = page.index(line.description)
        quantity = "" if line.quantity is None else f"{line.quantity.normalize():f}"
        assert (
            page[position + 1 : position + 3] == [quantity, f"{line.amount.amount:.2f}"]
            or page[position + 1] == f"{line.amount.amount:.2f}"
        )
    assert page[-2:] == ["Total", f"{invoice.total.amount:.2f} USD"]
    assert invoice.total.amount == Decimal("112.34")  # 100.00 fee + 1234 x 0.01


@dataclass
class Line:
    description: str
    quantity: Decimal | None
    amount: Decimal


def test_a_long_invoice_continues_on_more_pages_with_headings_and_one_total():
    customer = Customer(name="Ünïcødé ☃ Ltd", external_id="long")
    invoice = Invoice(
        customer=customer,
        number="INV-000042",
        currency="KWD",
        period_start=datetime(2026, 1, 1, tzinfo=UTC),
        period_end=datetime(2026, 2, 1, tzinfo=UTC),
        issued_at=datetime(2026, 2, 2, tzinfo=UTC),
        due_at=datetime(2026, 3, 4, tzinfo=UTC),
        total=Decimal("151.5"),
    )
    lines = [Line(f"Usage line {n}", Decimal(n), Decimal("1.0105")) for n in range(150)]
    pages = pdf_pages(invoice_pdf_render(invoice, lines))
    assert len(pages) >= 3
    shown = [s for page in pages for s in page]
    assert [s for s in shown if s.startswith("Usage line")] == [
        f"Usage line {n}" for n in range(150)
    ]
    assert shown.count("1.011") == 150  # KWD: three decimals, half-up once per line
    assert all(page[:3] == ["Description", "Quantity", "Amount (KWD)"] for page in pages[1:])
    assert shown.count("Total") == 1 and shown[-1] == "151.500 KWD"
    assert "Customer: ?n?c?d? ? Ltd (long)" not in shown  # Latin-1 keeps what it can
    assert "Customer: Ünïcødé ? Ltd (long)" in shown
