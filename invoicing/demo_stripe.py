"""Demo Stripe state for ``seed_demo`` (no Stripe account needed): what the outbox and the
webhooks would have left behind. Demo customers get a Stripe customer id and a default card;
each issued invoice a Stripe invoice mirror with its outbox row marked sent (result says
``demo``); the oldest invoices of two customers are paid through the same code a webhook runs;
one open invoice carries a declined payment with Stripe's reason. Idempotent: every Stripe id
is derived from our primary keys."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from accounts.models import Customer
from billingsite.money import amount_of, round_line, to_minor_units
from billingsite.outbox.models import OutboxMessage, OutboxState
from invoicing.models import Invoice, Payment, StripeInvoice, StripePaymentMethod
from invoicing.states import InvoiceStatus
from invoicing.stripe.mirror import stripe_invoice_apply

PAID_FOR = ("acme", "globex")
PAID_AFTER_DAYS = 5
DECLINED_FOR = "umbrella"


def seed_stripe_mirror(out: Any) -> None:
    from invoicing.demo_stripe_live import on_loopback_stripe

    if on_loopback_stripe():  # the real thing follows: manage.py demo_stripe_sync
        out.write("  Stripe mirror: left to demo_stripe_sync (loopback Stripe)")
        return
    now = timezone.now()
    customers = list(Customer.objects.filter(email__gt="").order_by("pk"))
    for customer in customers:
        _demo_customer(customer, now)
    invoices = list(
        Invoice.objects.exclude(status__in=[InvoiceStatus.DRAFT, InvoiceStatus.VOID])
        .filter(total__gt=0)
        .select_related("customer")
        .order_by("issued_at", "pk")
    )
    for invoice in invoices:
        _demo_invoice(invoice, now)
    paid = 0
    for external_id in PAID_FOR:
        oldest = next((i for i in invoices if i.customer.external_id == external_id), None)
        if oldest is not None:
            paid += _demo_paid(oldest, now)
    declined = [i for i in invoices if i.customer.external_id == DECLINED_FOR]
    if declined:
        _demo_declined(declined[-1])
    OutboxMessage.objects.filter(state=OutboxState.PENDING, key__startswith="customer:").update(
        state=OutboxState.SENT, sent_at=now, attempts=1, result={"demo": True}
    )
    OutboxMessage.objects.filter(state=OutboxState.PENDING, key__startswith="invoice:").update(
        state=OutboxState.SENT,
        sent_at=now,
        attempts=1,
        result={"demo": True, "skipped": "nothing to collect"},
    )  # zero totals, as the handler
    out.write(
        f"  Stripe mirror: {len(customers)} customers, {len(invoices)} invoices pushed, "
        f"{paid} newly paid, a declined payment for {DECLINED_FOR}"
    )


def _demo_customer(customer: Customer, now: Any) -> None:
    if not customer.stripe_customer_id:
        Customer.objects.filter(pk=customer.pk).update(
            stripe_customer_id=f"cus_demo{customer.pk:06d}"
        )
        customer.refresh_from_db(fields=["stripe_customer_id"])
    StripePaymentMethod.objects.get_or_create(
        stripe_id=f"pm_demo{customer.pk:06d}",
        defaults={
            "customer": customer,
            "type": "card",
            "brand": "visa",
            "last4": "4242",
            "exp_month": 12,
            "exp_year": now.year + 3,
            "is_default": True,
            "refreshed_at": now,
        },
    )


def _demo_invoice(invoice: Invoice, now: Any) -> None:
    stripe_id = f"in_demo{invoice.pk:06d}"
    StripeInvoice.objects.get_or_create(
        invoice=invoice,
        defaults={
            "stripe_id": stripe_id,
            "status": "open",
            "collection_method": "send_invoice",
            "currency": invoice.currency,
            "total_minor": to_minor_units(
                round_line(amount_of(invoice.total), invoice.currency), invoice.currency
            ),
            "stripe_created": invoice.issued_at,
            "synced_at": now,
        },
    )
    OutboxMessage.objects.filter(
        key=f"invoice:{invoice.pk}:finalize", state=OutboxState.PENDING
    ).update(
        state=OutboxState.SENT,
        sent_at=now,
        attempts=1,
        result={"demo": True, "stripe_invoice": stripe_id, "collection": "sent"},
    )


def _demo_paid(invoice: Invoice, now: Any) -> int:
    mirror = StripeInvoice.objects.get(invoice=invoice)
    minor = mirror.total_minor
    # the charge a few days after the invoice was issued, as a customer pays
    paid_at = min(now, (invoice.issued_at or now) + timedelta(days=PAID_AFTER_DAYS))
    Payment.objects.get_or_create(
        stripe_payment_intent_id=f"pi_demo{invoice.pk:06d}",
        defaults={
            "customer": invoice.customer,
            "invoice": invoice,
            "stripe_charge_id": f"ch_demo{invoice.pk:06d}",
            "currency": invoice.currency,
            "amount": amount_of(invoice.total),
            "amount_captured": amount_of(invoice.total),
            "status": "succeeded",
            "stripe_created": paid_at,
            "last_event_at": paid_at,
        },
    )
    before = invoice.status
    stripe_invoice_apply(
        {
            "object": "invoice",
            "id": mirror.stripe_id,
            "status": "paid",
            "total": minor,
            "amount_paid": minor,
        },
        at=now,
    )
    invoice.refresh_from_db()
    return int(before != invoice.status)


def _demo_declined(invoice: Invoice) -> None:
    Payment.objects.get_or_create(
        stripe_payment_intent_id=f"pi_demo{invoice.pk:06d}",
        defaults={
            "customer": invoice.customer,
            "invoice": invoice,
            "currency": invoice.currency,
            "amount": amount_of(invoice.total),
            "status": "failed",
            "failure_code": "card_declined",
            "decline_code": "insufficient_funds",
            "failure_message": "Your card has insufficient funds.",
        },
    )
