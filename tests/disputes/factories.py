"""Builders for refund and dispute tests: a paid invoice with its captured payment, staff users
in the Support/Finance roles, dispute objects and signed deliveries."""

from __future__ import annotations

from decimal import Decimal
from itertools import count
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from accounts.models import Customer
from accounts.services import staff_user_create
from invoicing.models import Invoice, Payment
from invoicing.services.invoices import invoice_mark_paid
from tests.stripe.sync_support import finalized_invoice
from tests.stripe_support import fixture_object

_seq = count(1)


def paid_invoice_payment(
    customer: Customer | None = None, *, captured: Decimal | None = None
) -> tuple[Invoice, Payment]:
    invoice = finalized_invoice(customer, plan_key=f"dsp{next(_seq)}")
    invoice = invoice_mark_paid(invoice=invoice, now=timezone.now())
    n = next(_seq)
    payment = Payment.objects.create(
        customer=invoice.customer,
        invoice=invoice,
        stripe_payment_intent_id=f"pi_dsp{n}",
        stripe_charge_id=f"ch_dsp{n}",
        currency=invoice.currency,
        amount=invoice.total,
        amount_captured=invoice.total if captured is None else captured,
        status="succeeded",
        stripe_created=timezone.now(),
    )
    return invoice, payment


def staff(role: str, name: str | None = None) -> User:
    username = name or f"{role}{next(_seq)}"
    return staff_user_create(
        username=username, role=role, password="pw-for-tests-123", email=f"{username}@tally.invalid"
    )


def dispute_obj(
    payment: Payment,
    *,
    dispute_id: str = "dp_test1",
    status: str = "needs_response",
    amount_minor: int = 1000,
    due_by: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    due = due_by if due_by is not None else int(timezone.now().timestamp()) + 7 * 86400
    obj = fixture_object(
        "dispute",
        id=dispute_id,
        charge=payment.stripe_charge_id,
        payment_intent=payment.stripe_payment_intent_id,
        status=status,
        amount=amount_minor,
        currency=payment.currency.lower(),
        reason="fraudulent",
        **extra,
    )
    obj["evidence_details"] = {**obj["evidence_details"], "due_by": due}
    return obj
