"""Charging a credit purchase on Stripe: the outbox handler of ``stripe.credit_purchase.charge``.

The row's key is the purchase's idempotency key (``credit-purchase:<id>`` for a top-up,
``credit-recharge:<rule>:<ledger entry>`` for an auto-recharge) and is sent as the Stripe
idempotency key of the one payment intent. If the worker dies after Stripe charged and before
the grant committed, the outbox sends the row again with the same key: Stripe answers the first
payment intent instead of charging again, and the grant is made then (once: the purchase is
settled under its row lock). A declined card is an outcome (the purchase fails, its rule
stops, ``credit_purchase.failed`` is announced); a transient error is retried by the outbox.
"""

from __future__ import annotations

from typing import Any

from billingsite.errors import AppError
from billingsite.money import amount_of, round_line, to_minor_units
from billingsite.outbox.models import OutboxMessage
from billingsite.outbox.registry import register_outbox_handler
from invoicing.models import CreditPurchase, PurchaseStatus, StripePaymentMethod
from invoicing.services.credit_purchase_settle import credit_purchase_fail, credit_purchase_settle
from invoicing.stripe import errors
from invoicing.stripe.errors import StripeGatewayError
from invoicing.stripe.gateway import StripeGateway, default_gateway
from invoicing.stripe.topics import CREDIT_PURCHASE_TOPIC

REFUSALS = (errors.CARD_ERROR, errors.INVALID_REQUEST, errors.NOT_FOUND)


class PaymentStillProcessing(AppError):
    """Stripe has not decided yet: ask again later (same key, same payment intent)."""

    retryable = True

    def __init__(self, intent_id: str) -> None:
        super().__init__(
            "payment_processing", f"Payment {intent_id} is still processing; asking again later."
        )


def _payment_method(gateway: StripeGateway, purchase: CreditPurchase) -> str | None:
    stripe_customer = purchase.customer.stripe_customer_id
    found = gateway.customer_default_payment_method(stripe_customer)
    if found:
        return found
    mirrored = StripePaymentMethod.objects.filter(
        customer_id=purchase.customer_id, is_default=True
    ).first()
    return mirrored.stripe_id if mirrored else None


def _failed(purchase: CreditPurchase, code: str, message: str, intent: str = "") -> dict[str, Any]:
    credit_purchase_fail(
        purchase_id=purchase.pk, code=code, message=message, payment_intent_id=intent
    )
    return {"purchase": "failed", "code": code}


def credit_purchase_charge(message: OutboxMessage) -> dict[str, Any]:
    purchase = CreditPurchase.objects.select_related("customer").get(
        pk=int(message.payload["purchase_id"])
    )
    if purchase.status != PurchaseStatus.PENDING:
        return {"skipped": f"purchase {purchase.status}"}
    if not purchase.customer.stripe_customer_id:
        return _failed(purchase, "no_stripe_customer", "The customer is not on Stripe yet.")
    gateway = default_gateway()
    method = _payment_method(gateway, purchase)
    if method is None:
        return _failed(purchase, "no_payment_method", "The customer has no default card.")
    amount = round_line(amount_of(purchase.amount), purchase.currency)
    try:
        intent = gateway.payment_intent_create(
            purchase.customer.stripe_customer_id,
            amount=to_minor_units(amount, purchase.currency),
            currency=purchase.currency,
            payment_method_id=method,
            idempotency_key=message.key,
            metadata={"tally_credit_purchase": str(purchase.pk)},
        )
    except StripeGatewayError as exc:
        if exc.code not in REFUSALS:
            raise  # transient: the outbox retries with the same key
        code = exc.decline_code or exc.stripe_code or exc.code
        return _failed(purchase, code, exc.message)
    if intent.status == "succeeded":
        credit_purchase_settle(purchase_id=purchase.pk, payment_intent_id=intent.id)
        return {"purchase": "succeeded", "payment_intent": intent.id}
    if intent.status == "processing":
        raise PaymentStillProcessing(intent.id)
    return _failed(
        purchase, f"payment_{intent.status}", "The payment was not completed.", intent.id
    )


def register() -> None:
    register_outbox_handler(CREDIT_PURCHASE_TOPIC, credit_purchase_charge)
