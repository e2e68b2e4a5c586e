"""Automated refunds, all through ``refund_request`` (same guards, threshold and outbox):

- a duplicate payment (a second succeeded payment on an invoice already paid in full);
- a paid invoice that finance voids (Tally never voids a paid invoice: it is refunded in full
  and the refund's credit note credits it completely);
- an SLA-credit batch from a CSV (customer, amount, reason), previewed as a dry run (the very
  same code, rolled back) and then applied with a result per row.

Each automated refund carries a ``batch_ref`` unique per customer, so re-running a detection or
re-uploading a batch never refunds twice.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Count, Q

from accounts.models import Customer
from billingsite.errors import AppError
from disputes.models import Refund
from disputes.models.refunds import RefundSource
from disputes.services.refunds import refund_request, refundable_amount
from disputes.states import RefundReason
from invoicing.models import Invoice, Payment, PaymentStatus
from invoicing.states import InvoiceStatus


def duplicate_payments() -> list[Payment]:
    """Succeeded payments beyond the first on a paid invoice (oldest payment is the real one)."""
    invoices = (
        Payment.objects.filter(status=PaymentStatus.SUCCEEDED, invoice__isnull=False)
        .values("invoice_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("invoice_id", flat=True)
    )
    found: list[Payment] = []
    for invoice_id in invoices:
        payments = list(
            Payment.objects.filter(invoice_id=invoice_id, status=PaymentStatus.SUCCEEDED).order_by(
                "stripe_created", "pk"
            )
        )
        found.extend(payments[1:])
    return found


def refund_duplicate_payments(*, actor: User | None = None) -> list[Refund]:
    """Request a full refund of every duplicate payment not yet refunded by this path."""
    created: list[Refund] = []
    for payment in duplicate_payments():
        ref = f"duplicate:{payment.pk}"
        if Refund.objects.filter(batch_ref=ref).exists():
            continue
        try:
            created.append(
                refund_request(
                    payment=payment,
                    reason=RefundReason.DUPLICATE,
                    actor=actor,
                    batch_ref=ref,
                    source=RefundSource.DUPLICATE_PAYMENT,
                    reason_text="Duplicate payment found by reconciliation.",
                )
            )
        except (AppError, IntegrityError):
            continue  # already refunded elsewhere, disputed, ...: left for a person
    return created


@transaction.atomic
def refund_voided_invoice(*, invoice: Invoice, reason: str, actor: User | None) -> list[Refund]:
    """Finance voids a paid invoice: refund each of its payments in full."""
    if invoice.status != InvoiceStatus.PAID:
        raise AppError(
            "invoice_not_paid",
            f"Invoice {invoice} is {invoice.status}: void it directly, there is nothing to refund.",
        )
    if not reason.strip():
        raise AppError("reason_required", "Say why the paid invoice is voided.")
    refunds = []
    for payment in invoice.payments.filter(status=PaymentStatus.SUCCEEDED).order_by("pk"):
        if refundable_amount(payment) > 0:
            refunds.append(
                refund_request(
                    payment=payment,
                    reason=RefundReason.INVOICE_VOIDED,
                    reason_text=reason,
                    actor=actor,
                    source=RefundSource.INVOICE_VOID,
                    batch_ref=f"void:{invoice.pk}:{payment.pk}",
                )
            )
    return refunds


@dataclass
class BatchRow:
    line: int
    customer: str
    amount: str
    reason: str
    outcome: str = ""
    ok: bool = False
    refund_id: int | None = None


class _DryRun(Exception):
    pass


def sla_batch(*, content: str, batch_ref: str, actor: User | None, apply: bool) -> list[BatchRow]:
    """Refund each CSV row from the customer's latest paid payment with room left. With
    ``apply=False`` everything runs and is rolled back: the preview is what apply will do."""
    rows = _parse(content)
    try:
        with transaction.atomic():
            for row in rows:
                if row.outcome:
                    continue
                _apply_row(row, batch_ref, actor)
            if not apply:
                raise _DryRun
    except _DryRun:
        for row in rows:
            if row.ok:
                row.outcome = f"would refund: {row.outcome}"
                row.refund_id = None
    return rows


def _parse(content: str) -> list[BatchRow]:
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
    missing = {"customer", "amount", "reason"} - set(reader.fieldnames or [])
    if missing:
        raise AppError("validation_error", f"The CSV lacks columns: {', '.join(sorted(missing))}.")
    rows = []
    for number, raw in enumerate(reader, start=2):
        row = BatchRow(
            number,
            (raw.get("customer") or "").strip(),
            (raw.get("amount") or "").strip(),
            (raw.get("reason") or "").strip(),
        )
        try:
            if Decimal(row.amount) <= 0:
                row.outcome = "amount must be positive"
        except InvalidOperation:
            row.outcome = f"not an amount: {row.amount!r}"
        rows.append(row)
    return rows


def _apply_row(row: BatchRow, batch_ref: str, actor: User | None) -> None:
    customer = Customer.objects.filter(
        Q(external_id=row.customer) | Q(aliases__alias=row.customer)
    ).first()
    if customer is None:
        row.outcome = "unknown customer"
        return
    amount = Decimal(row.amount)
    payments = Payment.objects.filter(
        customer=customer, status=PaymentStatus.SUCCEEDED, invoice__status=InvoiceStatus.PAID
    ).order_by("-stripe_created", "-pk")
    payment = next((p for p in payments if refundable_amount(p) >= amount), None)
    if payment is None:
        row.outcome = "no paid payment with that much left to refund"
        return
    try:
        with transaction.atomic():
            refund = refund_request(
                payment=payment,
                amount=amount,
                actor=actor,
                reason=RefundReason.SLA_CREDIT,
                reason_text=row.reason,
                source=RefundSource.SLA_BATCH,
                batch_ref=batch_ref,
            )
    except IntegrityError:
        row.outcome = "already refunded in this batch"
        return
    except AppError as exc:
        row.outcome = exc.message
        return
    row.ok, row.refund_id = True, refund.pk
    row.outcome = f"refund #{refund.pk} of {amount} {refund.currency} ({refund.status})"
