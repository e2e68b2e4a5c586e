"""Reads for credit notes, always through the caller's visibility (a bound key sees one
customer's notes)."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from accounts.models import ApiKey, Customer
from billingsite.errors import NotFound
from invoicing.models import CreditNote, CreditNoteLine


def credit_notes_visible_to(
    api_key: ApiKey | None, *, customer: Customer | None = None, invoice_number: str | None = None
) -> QuerySet[CreditNote]:
    qs = CreditNote.objects.select_related("invoice__customer", "credit_grant").prefetch_related(
        Prefetch("lines", CreditNoteLine.objects.order_by("pk"))
    )
    if api_key is not None and api_key.customer_id is not None:
        qs = qs.filter(invoice__customer_id=api_key.customer_id)
    if customer is not None:
        qs = qs.filter(invoice__customer=customer)
    if invoice_number is not None:
        qs = qs.filter(invoice__number=invoice_number)
    return qs


def credit_note_by_number(api_key: ApiKey | None, number: str) -> CreditNote:
    note = credit_notes_visible_to(api_key).filter(number=number).first()
    if note is None:
        raise NotFound(f"No credit note numbered {number!r}.")
    return note
