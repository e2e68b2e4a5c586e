"""Invoice sync: a finalized Tally invoice becomes a finalized Stripe invoice, charged or sent.

``invoice_finalize`` writes the outbox row ``invoice:<id>:finalize`` inside its transaction (topic
and key from ``topics``); ``invoice_push`` is its handler. Every Stripe write carries a key
derived from that row, so the handler can run any number of times (a timeout, a worker killed
after Stripe answered) and Stripe still holds one invoice with one item per line:

    invoice:<id>:finalize                create the draft (metadata: our id and number)
    invoice:<id>:finalize:line:<pos>     one item per line (see ``stripe_items``)
    invoice:<id>:finalize:finalize       finalize it
    invoice:<id>:finalize:pay | :send    charge it (charge_automatically) or email it
    invoice:<id>:void                    (``stripe.invoice.void``) void it after a Tally void

A declined card is an outcome, not a send failure: the row is sent and the payment shows as
failed with Stripe's reason. Payment status ("paid") comes back from webhooks, and from
``stripe_invoices_poll`` when a webhook is late; the push itself never marks an invoice paid.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from billingsite.errors import AppError
from billingsite.money import amount_of, round_line, to_minor_units
from billingsite.outbox.models import OutboxMessage, OutboxState
from billingsite.outbox.registry import register_outbox_handler
from invoicing.models import CollectionMethod, Invoice, StripeInvoice
from invoicing.states import InvoiceStatus
from invoicing.stripe import errors
from invoicing.stripe.customers import customer_ensure_on_stripe
from invoicing.stripe.errors import StripeGatewayError
from invoicing.stripe.gateway import StripeGateway, default_gateway
from invoicing.stripe.invoice_items import stripe_items, stripe_total
from invoicing.stripe.mirror import (
    payment_intent_apply,
    stripe_invoice_apply,
    stripe_time,
)
from invoicing.stripe.topics import INVOICE_PUSH_TOPIC, INVOICE_VOID_TOPIC, invoice_push_key


class PushNotFinished(AppError):
    """The void arrived before the push finished: wait for it (retried with backoff)."""

    retryable = True


def invoice_push(message: OutboxMessage) -> dict[str, Any]:
    """Outbox handler: create, fill, finalize and charge/send the Stripe invoice."""
    invoice = Invoice.objects.select_related("customer", "contract").get(
        pk=message.payload["invoice_id"]
    )
    if invoice.status == InvoiceStatus.DRAFT:
        raise StripeGatewayError(
            "invoice_not_finalized", f"Invoice {invoice.pk} is a draft.", retryable=False
        )
    if (
        invoice.status == InvoiceStatus.VOID
        and not StripeInvoice.objects.filter(invoice=invoice).exists()
    ):
        return {"skipped": "voided in Tally before it reached Stripe"}
    total = to_minor_units(round_line(amount_of(invoice.total), invoice.currency), invoice.currency)
    if total <= 0:
        return {"skipped": "nothing to collect", "total": total}
    items = stripe_items(invoice.lines.order_by("position"), invoice.currency)
    assert stripe_total(items) == total, "items must add up to the invoice total"
    gateway = default_gateway()
    customer_id = customer_ensure_on_stripe(invoice.customer)
    key = message.key
    created = _create(gateway, invoice, customer_id, key)
    _link_record(invoice, created)
    for item in items:
        gateway.invoice_item_create(
            customer_id,
            created["id"],
            currency=invoice.currency,
            description=item.description,
            idempotency_key=f"{key}:line:{item.position}",
            amount=item.amount,
            unit_amount_decimal=item.unit_amount_decimal,
            quantity=item.quantity,
            period=item.period,
            metadata={"tally_invoice_id": str(invoice.pk)},
        )
    finalized = gateway.invoice_finalize(created["id"], idempotency_key=f"{key}:finalize")
    result: dict[str, Any] = {"stripe_invoice": created["id"], "total": total, "items": len(items)}
    result.update(_collect(gateway, invoice, finalized.to_dict(), key))
    if result["collection"] == "declined":
        # The 402 names no payment object: read it now so the failure shows with its reason.
        stripe_invoice_refresh(stripe_invoice_id=created["id"], gateway=gateway)
    return result


def _create(gateway: StripeGateway, invoice: Invoice, customer_id: str, key: str) -> dict[str, Any]:
    send = invoice.contract.collection_method == CollectionMethod.SEND_INVOICE
    return gateway.invoice_create(
        customer_id,
        currency=invoice.currency,
        collection_method="send_invoice" if send else "charge_automatically",
        days_until_due=invoice.contract.net_days if send else None,
        idempotency_key=key,
        description=f"Invoice {invoice.number}",
        metadata={"tally_invoice_id": str(invoice.pk), "tally_invoice_number": str(invoice.number)},
    ).to_dict()


def _link_record(invoice: Invoice, created: dict[str, Any]) -> None:
    try:
        with transaction.atomic():
            StripeInvoice.objects.get_or_create(
                invoice=invoice,
                defaults={
                    "stripe_id": created["id"],
                    "status": str(created.get("status") or "draft"),
                    "collection_method": str(created.get("collection_method") or ""),
                    "currency": invoice.currency,
                    "total_minor": 0,
                    "stripe_created": stripe_time(created.get("created")),
                    "synced_at": timezone.now(),
                },
            )
    except IntegrityError:
        pass  # a webhook recorded it first (same Stripe id); nothing to add


def _collect(
    gateway: StripeGateway, invoice: Invoice, finalized: dict[str, Any], key: str
) -> dict[str, Any]:
    if finalized.get("status") != "open":
        return {"collection": f"none: stripe invoice is {finalized.get('status')}"}
    if finalized.get("collection_method") == "send_invoice":
        gateway.invoice_send(finalized["id"], idempotency_key=f"{key}:send")
        return {"collection": "sent"}
    try:
        gateway.invoice_pay(finalized["id"], idempotency_key=f"{key}:pay")
    except StripeGatewayError as exc:
        if exc.code == errors.CARD_ERROR:
            return {
                "collection": "declined",
                "stripe_code": exc.stripe_code,
                "decline_code": exc.decline_code,
                "message": exc.message,
            }
        if exc.code in (errors.INVALID_REQUEST, errors.NOT_FOUND):
            # e.g. no payment method on file: the Stripe invoice stays open for the customer
            # to pay (support sends a payment-method link); resending cannot change that.
            return {
                "collection": "not charged",
                "stripe_code": exc.stripe_code,
                "message": exc.message,
            }
        raise
    return {"collection": "charged"}


def stripe_invoice_refresh(*, stripe_invoice_id: str, gateway: StripeGateway | None = None) -> str:
    """Read a Stripe invoice (and its payment intent) and apply it, as a late webhook would."""
    gateway = gateway or default_gateway()
    now = timezone.now()
    obj = gateway.invoice_retrieve(stripe_invoice_id).to_dict()
    intent_id = obj.get("payment_intent")
    intent_id = intent_id.get("id") if isinstance(intent_id, dict) else intent_id
    intent = gateway.payment_intent_retrieve(intent_id).to_dict() if intent_id else None
    if intent is not None:
        payment_intent_apply(intent, at=now)
    outcome = stripe_invoice_apply(obj, at=now)
    StripeInvoice.objects.filter(stripe_id=stripe_invoice_id).update(synced_at=now)
    return outcome


def stripe_invoices_poll(
    *, now: datetime, quiet_minutes: int = 30, limit: int = 200
) -> dict[str, int]:
    """Poll open Stripe invoices not heard of for ``quiet_minutes`` (a webhook may be late or
    lost). Reads only, one invoice at a time, outside any transaction."""
    stale = now - timedelta(minutes=quiet_minutes)
    ids = list(
        StripeInvoice.objects.filter(status__in=("draft", "open"))
        .exclude(synced_at__gt=stale)
        .exclude(last_event_at__gt=stale)
        .order_by("synced_at")
        .values_list("stripe_id", flat=True)[:limit]
    )
    failed = 0
    for stripe_id in ids:
        try:
            stripe_invoice_refresh(stripe_invoice_id=stripe_id)
        except StripeGatewayError:
            failed += 1  # logged by the gateway; the next poll tries again
    return {"polled": len(ids) - failed, "failed": failed}


def invoice_void_push(message: OutboxMessage) -> dict[str, Any]:
    """Outbox handler: void the Stripe invoice of a voided Tally invoice (key ``...:void``)."""
    invoice_id = message.payload["invoice_id"]
    mirror = StripeInvoice.objects.filter(invoice_id=invoice_id).first()
    if mirror is None:
        push = OutboxMessage.objects.filter(key=invoice_push_key(invoice_id)).first()
        if push is not None and push.state not in (OutboxState.SENT, OutboxState.DEAD):
            raise PushNotFinished(
                "push_not_finished", f"Invoice {invoice_id} is still being pushed to Stripe."
            )
        return {"skipped": "never on Stripe"}
    if mirror.status == "void":
        return {"stripe_invoice": mirror.stripe_id, "status": "void"}
    voided = default_gateway().invoice_void(mirror.stripe_id, idempotency_key=message.key)
    outcome = stripe_invoice_apply(voided.to_dict(), at=timezone.now())
    return {"stripe_invoice": mirror.stripe_id, "status": voided["status"], "applied": outcome}


def register() -> None:
    register_outbox_handler(INVOICE_PUSH_TOPIC, invoice_push)
    register_outbox_handler(INVOICE_VOID_TOPIC, invoice_void_push)
