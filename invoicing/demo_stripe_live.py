"""The demo's Stripe state when ``bin/tally run`` runs the loopback Stripe (localstripe).

``seed_demo`` then leaves Stripe alone (``invoicing.demo_stripe`` would otherwise fake the
mirror with made-up ids that no Stripe knows, so a refund of a demo payment would fail), and
``manage.py demo_stripe_sync`` (run by the launcher after seeding, outside any transaction, before
the worker starts) does what the worker and webhooks do in production, against localstripe:
each demo customer gets a Stripe customer and a default card (Umbrella's is declined when
charged), the outbox sends every pending row (customers, invoices created, finalized, charged or
sent), and open Stripe invoices are read back so payments (with their real payment intent and
charge ids) and paid invoices are recorded. Refunds of those payments then complete. Idempotent:
what exists is left alone, and the loopback Stripe keeps its objects between runs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from accounts.models import Customer
from billingsite.money import amount_of, to_minor_units
from billingsite.outbox.models import OutboxMessage, OutboxState
from billingsite.outbox.services import outbox_dispatch
from billingsite.stripe_loopback.process import card_payment_method, is_loopback_stripe
from invoicing.models import Invoice, Payment, StripePaymentMethod
from invoicing.stripe.customers import customer_ensure_on_stripe, payment_methods_refresh
from invoicing.stripe.errors import StripeGatewayError
from invoicing.stripe.gateway import default_gateway
from invoicing.stripe.invoice_push import stripe_invoices_poll
from invoicing.stripe.keys import idempotency_key

DECLINED_FOR = "umbrella"
GOOD_CARD = "4242424242424242"
DECLINED_WHEN_CHARGED = "4000000000000341"


def on_loopback_stripe() -> bool:
    return is_loopback_stripe(settings.STRIPE_API_BASE, settings.STRIPE_API_KEY)


def seed_stripe_live(out: Any) -> dict[str, int]:
    """Bring the demo's customers, invoices and payments onto the loopback Stripe."""
    if not on_loopback_stripe():
        raise RuntimeError("demo_stripe_sync only runs against the loopback Stripe")
    cards = sum(
        _customer_with_card(c) for c in Customer.objects.filter(email__gt="").order_by("pk")
    )
    made_real = sum(_made_real(p) for p in _made_up_payments())
    dispatched = outbox_dispatch(limit=100_000, batch=50)
    polled = stripe_invoices_poll(now=timezone.now() + timedelta(hours=1), quiet_minutes=0)
    summary = {
        "cards": cards,
        "made_real": made_real,
        "sent": dispatched.count("sent"),
        "failed": dispatched.count("retry") + dispatched.count("dead"),
        "polled": polled["polled"],
        "paid": Invoice.objects.filter(status="paid").count(),
        "payments": Payment.objects.filter(status="succeeded").count(),
    }
    out.write(
        f"  Stripe (loopback): {summary['cards']} cards added, {made_real} seeded payments "
        f"charged for real, {summary['sent']} outbox rows "
        f"sent, {summary['failed']} failed, {summary['polled']} invoices read back; "
        f"{summary['paid']} invoices paid, {summary['payments']} payments"
    )
    return summary


def _customer_with_card(customer: Customer) -> int:
    """A Stripe customer with a default card; 1 when a card was added now."""
    stripe_id = customer_ensure_on_stripe(customer)
    if StripePaymentMethod.objects.filter(customer=customer).exists():
        return 0
    gateway = default_gateway()
    number = DECLINED_WHEN_CHARGED if customer.external_id == DECLINED_FOR else GOOD_CARD
    method = card_payment_method(settings.STRIPE_API_BASE.rstrip("/"), number)
    gateway.payment_method_attach(
        method, stripe_id, idempotency_key=idempotency_key("demo-card", customer.pk, method)
    )
    gateway.customer_default_payment_method_set(
        stripe_id, method, idempotency_key=idempotency_key("demo-default", customer.pk, method)
    )
    payment_methods_refresh(customer)
    return 1


def _made_up_payments() -> list[Payment]:
    """Succeeded payments seed_demo invented (the disputes demo pays a few invoices itself with
    ``pi_demo_...`` ids no Stripe knows)."""
    return list(
        Payment.objects.filter(
            status="succeeded", stripe_payment_intent_id__startswith="pi_demo"
        ).select_related("customer", "invoice")
    )


def _made_real(payment: Payment) -> int:
    """Charge the payment's amount on the loopback Stripe and give the payment the real ids, so
    refunding it works; its invoice (paid already) is not charged again through a Stripe
    invoice. 1 when done, 0 when the customer's card declines (the payment stays as it was)."""
    method = StripePaymentMethod.objects.filter(customer=payment.customer, is_default=True).first()
    if method is None:
        return 0
    try:
        intent = (
            default_gateway()
            .payment_intent_create(
                payment.customer.stripe_customer_id,
                amount=to_minor_units(amount_of(payment.amount_captured), payment.currency),
                currency=payment.currency,
                payment_method_id=method.stripe_id,
                idempotency_key=idempotency_key("demo-payment", payment.pk),
                metadata={"tally_invoice_id": str(payment.invoice_id)},
            )
            .to_dict()
        )
    except StripeGatewayError:
        return 0
    charge = intent.get("latest_charge")
    charge_id = charge.get("id") if isinstance(charge, dict) else charge
    # Saved through the model so the payment's history records the new Stripe ids.
    payment.stripe_payment_intent_id = intent["id"]
    payment.stripe_charge_id = charge_id or None
    payment.save(update_fields=["stripe_payment_intent_id", "stripe_charge_id"])
    OutboxMessage.objects.filter(
        key=idempotency_key("invoice", payment.invoice_id, "finalize"), state=OutboxState.PENDING
    ).update(
        state=OutboxState.SENT,
        sent_at=timezone.now(),
        result={"demo": True, "skipped": "paid directly with a payment intent"},
    )
    return 1
