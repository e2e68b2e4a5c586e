"""Customer sync with Stripe: outbox handlers and the services that enqueue them.

- ``stripe.customer.sync`` (written by ``accounts.services`` when a customer with a billing
  email is created or its billing fields change): make sure the Stripe customer exists, push
  email/name/address, read back payment methods and the default one.
- ``stripe.customer.refresh``: read back payment methods only (admin button).
- ``stripe.customer.portal_link``: a Billing portal session on "update payment method" for a
  ``PaymentMethodUpdateLink`` support requested; optionally emailed to the customer.

Idempotency: the Stripe customer is created with ``customer:<id>:create`` and parameters that
never change (our ids as metadata), so every path that needs it (sync, invoice push) converges
on one Stripe customer. Updates are "set to the current value" and carry
``customer:<id>:sync:<outbox id>:<digest of the values>``: a resend replays, and a retry after
the customer changed again sends the newer values under a new key.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from accounts.models import Customer
from billingsite.errors import AppError
from billingsite.outbox.models import OutboxMessage
from billingsite.outbox.registry import register_outbox_handler
from billingsite.outbox.services import outbox_enqueue
from invoicing.models import LinkStatus, PaymentMethodUpdateLink, StripePaymentMethod
from invoicing.stripe.gateway import default_gateway
from invoicing.stripe.keys import idempotency_key
from invoicing.stripe.topics import (
    CUSTOMER_REFRESH_TOPIC,
    CUSTOMER_SYNC_TOPIC,
    PAYMENT_METHOD_LINK_TOPIC,
    payment_method_link_key,
)


def customer_ensure_on_stripe(customer: Customer) -> str:
    """The customer's Stripe id, creating the Stripe customer once (stable key and params)."""
    if customer.stripe_customer_id:
        return customer.stripe_customer_id
    created = default_gateway().customer_create(
        idempotency_key=idempotency_key("customer", customer.pk, "create"),
        metadata={"tally_customer_id": str(customer.pk), "tally_external_id": customer.external_id},
    )
    Customer.objects.filter(pk=customer.pk, stripe_customer_id="").update(
        stripe_customer_id=created.id
    )
    customer.refresh_from_db(fields=["stripe_customer_id"])
    return customer.stripe_customer_id


def _profile(customer: Customer) -> dict[str, Any]:
    address = {
        "line1": customer.address_line1,
        "line2": customer.address_line2,
        "city": customer.city,
        "state": customer.state,
        "postal_code": customer.postal_code,
        "country": customer.country,
    }
    return {
        "email": customer.email or None,
        "name": customer.name,
        "address": {k: v for k, v in address.items() if v} or None,
    }


def customer_sync_send(message: OutboxMessage) -> dict[str, Any]:
    """Outbox handler for ``stripe.customer.sync``."""
    customer = Customer.objects.get(pk=message.payload["customer_id"])
    stripe_id = customer_ensure_on_stripe(customer)
    profile = _profile(customer)
    digest = hashlib.sha256(json.dumps(profile, sort_keys=True).encode()).hexdigest()[:12]
    gateway = default_gateway()
    gateway.customer_update(
        stripe_id,
        idempotency_key=idempotency_key("customer", customer.pk, "sync", message.pk, digest),
        email=profile["email"],
        name=profile["name"],
        metadata={"tally_customer_id": str(customer.pk), "tally_external_id": customer.external_id},
    )
    methods = payment_methods_refresh(customer)
    return {"stripe_customer_id": stripe_id, "payment_methods": methods}


def payment_methods_refresh(customer: Customer) -> int:
    """Read the customer's cards and default payment method back from Stripe (reads only,
    outside any transaction), then replace our copy in one transaction."""
    if not customer.stripe_customer_id:
        return 0
    gateway = default_gateway()
    methods = [pm.to_dict() for pm in gateway.payment_methods_list(customer.stripe_customer_id)]
    default = gateway.customer_default_payment_method(customer.stripe_customer_id)
    now = timezone.now()
    with transaction.atomic():
        StripePaymentMethod.objects.filter(customer=customer).exclude(
            stripe_id__in=[pm["id"] for pm in methods]
        ).delete()
        for pm in methods:
            card = pm.get("card") or {}
            StripePaymentMethod.objects.update_or_create(
                stripe_id=pm["id"],
                defaults={
                    "customer": customer,
                    "type": str(pm.get("type") or ""),
                    "brand": str(card.get("brand") or "")[:32],
                    "last4": str(card.get("last4") or "")[:4],
                    "exp_month": card.get("exp_month"),
                    "exp_year": card.get("exp_year"),
                    "is_default": pm["id"] == default,
                    "refreshed_at": now,
                },
            )
    return len(methods)


def customer_refresh_send(message: OutboxMessage) -> dict[str, Any]:
    """Outbox handler for ``stripe.customer.refresh``."""
    customer = Customer.objects.get(pk=message.payload["customer_id"])
    return {"payment_methods": payment_methods_refresh(customer)}


@transaction.atomic
def customer_stripe_refresh_request(*, customer: Customer) -> OutboxMessage:
    """Ask for a read-back of the customer's payment methods (sync first when never synced)."""
    now = timezone.now()
    topic = CUSTOMER_REFRESH_TOPIC if customer.stripe_customer_id else CUSTOMER_SYNC_TOPIC
    key = f"customer:{customer.pk}:{topic.rsplit('.', 1)[1]}:{now.timestamp():.6f}"
    return outbox_enqueue(topic, key, {"customer_id": customer.pk}, now=now)[0]


@transaction.atomic
def payment_method_link_request(
    *, customer: Customer, requested_by: User | None, email_to: str = ""
) -> PaymentMethodUpdateLink:
    """Record support's request for a payment-method update link; the outbox creates it."""
    link = PaymentMethodUpdateLink.objects.create(
        customer=customer, requested_by=requested_by, email_to=email_to
    )
    outbox_enqueue(
        PAYMENT_METHOD_LINK_TOPIC, payment_method_link_key(link.pk), {"link_id": link.pk}
    )
    return link


def payment_method_link_send(message: OutboxMessage) -> dict[str, Any]:
    """Outbox handler for ``stripe.customer.portal_link``."""
    link = PaymentMethodUpdateLink.objects.select_related("customer").get(
        pk=message.payload["link_id"]
    )
    if link.status == LinkStatus.READY and (link.emailed_at or not link.email_to):
        return {"url": link.url}
    stripe_id = customer_ensure_on_stripe(link.customer)
    try:
        session = default_gateway().billing_portal_session_create(
            stripe_id, return_url=settings.STRIPE_PORTAL_RETURN_URL, idempotency_key=message.key
        )
    except AppError as exc:
        if not getattr(exc, "retryable", False):
            PaymentMethodUpdateLink.objects.filter(pk=link.pk).update(
                status=LinkStatus.FAILED, error=exc.message
            )
        raise
    now = timezone.now()
    PaymentMethodUpdateLink.objects.filter(pk=link.pk).update(
        status=LinkStatus.READY, url=session.url, ready_at=now, error=""
    )
    if link.email_to and link.emailed_at is None:
        send_mail(
            "Update your payment method",
            f"Hello {link.customer.name},\n\nPlease update the payment method we charge "
            f"for your invoices here:\n\n{session.url}\n\nThe link expires soon.\n",
            settings.DEFAULT_FROM_EMAIL,
            [link.email_to],
        )
        PaymentMethodUpdateLink.objects.filter(pk=link.pk).update(emailed_at=now)
    return {"url": session.url, "emailed_to": link.email_to}


def register() -> None:
    register_outbox_handler(CUSTOMER_SYNC_TOPIC, customer_sync_send)
    register_outbox_handler(CUSTOMER_REFRESH_TOPIC, customer_refresh_send)
    register_outbox_handler(PAYMENT_METHOD_LINK_TOPIC, payment_method_link_send)
