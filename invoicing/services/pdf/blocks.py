"""The blocks every billing document starts with: the seller (name, logo, address, tax id, from
settings), the document's title and facts, and the customer's billing details."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from django.conf import settings

from accounts.models import Customer
from invoicing.services.pdf.document import LEFT, RIGHT, TOP, Document

BUNDLED_LOGO = Path(settings.BASE_DIR) / "billingsite" / "static" / "tally" / "favicon.svg"
FACTS_LABEL_X = 128.0
LOGO_MM = 13.0


def seller_lines() -> list[str]:
    """The seller's address and tax id lines, as configured (``INVOICE_SELLER_*``)."""
    lines = [part.strip() for part in settings.INVOICE_SELLER_ADDRESS.split("|") if part.strip()]
    if settings.INVOICE_SELLER_TAX_ID:
        lines.append(f"Tax ID: {settings.INVOICE_SELLER_TAX_ID}")
    if settings.INVOICE_SELLER_EMAIL:
        lines.append(settings.INVOICE_SELLER_EMAIL)
    return lines


def customer_lines(customer: Customer) -> list[str]:
    """The customer's billing address, tax id and billing email, blank parts left out."""
    place = " ".join(p for p in (customer.state, customer.postal_code) if p)
    city = ", ".join(p for p in (customer.city, place) if p)
    lines = [customer.address_line1, customer.address_line2, city, customer.country]
    if customer.tax_id:
        lines.append(f"Tax ID: {customer.tax_id}")
    if customer.email:
        lines.append(customer.email)
    return [line for line in lines if line]


def _logo(doc: Document) -> bool:
    path = Path(settings.INVOICE_SELLER_LOGO) if settings.INVOICE_SELLER_LOGO else BUNDLED_LOGO
    if not path.is_file():
        return False
    doc.image(str(path), x=LEFT, y=TOP - 6, h=LOGO_MM)
    return True


def heading(doc: Document, title: str, facts: Sequence[tuple[str, str]]) -> None:
    """Seller on the left (logo, name, address), the title and its facts on the right."""
    text_x = LEFT + LOGO_MM + 3 if _logo(doc) else LEFT
    doc.style(13, bold=True)
    doc.put(text_x, settings.INVOICE_SELLER_NAME)
    doc.style(16, bold=True)
    doc.put(RIGHT, title, "right")
    left_y = doc.y_pos + LOGO_MM - 3
    right_y = doc.y_pos + 9
    doc.style(8.5)
    for line in seller_lines():
        doc.put(LEFT, line, y=left_y)
        left_y += 4.2
    for label, value in facts:
        doc.style(8.5, bold=True)
        doc.put(FACTS_LABEL_X, label, y=right_y)
        room = RIGHT - FACTS_LABEL_X - doc.width(label) - 3
        doc.style(8.5)
        if doc.width(value) > room:  # a period with times: on its own line below the label
            right_y += 4.2
        doc.put(RIGHT, value, "right", y=right_y)
        right_y += 4.6
    doc.y_pos = max(left_y, right_y) + 6


def bill_to(doc: Document, customer: Customer, label: str = "Bill to") -> None:
    doc.style(8.5, bold=True)
    doc.put(LEFT, label)
    doc.down(4.6)
    doc.style(10, bold=True)
    doc.put(LEFT, customer.name)
    doc.down(4.6)
    doc.style(8.5)
    for line in customer_lines(customer):
        doc.put(LEFT, line)
        doc.down(4.2)
    doc.down(6)
