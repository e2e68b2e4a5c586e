"""'Request a refund' on invoicing's invoice and payment pages (registered, not imported)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from billingsite.admin_links import register_object_link
from invoicing.models import PaymentStatus


def _invoice_refund_url(invoice: Any) -> str | None:
    if not invoice.payments.filter(status=PaymentStatus.SUCCEEDED).exists():
        return None
    return reverse("admin:disputes_refund_request_invoice", args=[invoice.pk])


def _payment_refund_url(payment: Any) -> str | None:
    if payment.status != PaymentStatus.SUCCEEDED:
        return None
    return reverse("admin:disputes_refund_request", args=[payment.pk])


def register() -> None:
    register_object_link(
        "invoicing.invoice",
        "Request a refund",
        _invoice_refund_url,
        permission="disputes.request_refund",
    )
    register_object_link(
        "invoicing.payment",
        "Request a refund",
        _payment_refund_url,
        permission="disputes.request_refund",
    )
