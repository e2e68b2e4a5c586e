"""Teach localstripe Tally's invoice flow (installed by billingsite/stripe_loopback/server.py).

localstripe 1.15 only creates invoices for customers with a subscription, rejects
``currency``/``collection_method``/``days_until_due``/``auto_advance``, cannot add an invoice item
to an existing draft, has no ``/finalize`` or ``/send`` and never emits ``invoice.paid``. Tally
bills usage without Stripe subscriptions, so this module adds, following Stripe's documented
behaviour:

- ``POST /v1/invoices`` without a subscription: a draft with the given currency, collection
  method, ``days_until_due`` and ``auto_advance``; pending items are left alone unless
  ``pending_invoice_items_behavior=include`` (Stripe's default is ``exclude``);
- ``POST /v1/invoiceitems`` with ``invoice=<draft>`` adds a line to that draft; accepts
  ``unit_amount_decimal`` with ``quantity`` (amount = unit x quantity, rounded half up) and
  ``period[start]``/``period[end]``;
- ``POST /v1/invoices/{id}/finalize`` (draft -> open, ``invoice.finalized``) and
  ``POST /v1/invoices/{id}/send`` (send_invoice only; finalizes a draft, ``invoice.sent``);
- ``invoice.paid`` next to localstripe's ``invoice.payment_succeeded``;
- ``/pay`` with a declined card answers 402 ``card_declined`` and emits
  ``invoice.payment_failed`` (localstripe answers 200 silently); ``/void`` works on an open
  invoice that was sent but never charged (localstripe answers 400).

Everything else stays localstripe's own code.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from aiohttp import web
from localstripe import resources, server
from localstripe.errors import UserError
from localstripe.webhooks import schedule_webhook

Invoice = resources.Invoice
InvoiceItem = resources.InvoiceItem
COLLECTION_METHODS = ("charge_automatically", "send_invoice")
_INVOICE_ACTION = re.compile(r"^/v1/invoices/(?P<id>[^/]+)/(?P<action>\w+)$")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _bool(value: Any) -> bool | None:
    converted = resources.try_convert_to_bool(value)
    if converted is not None and not isinstance(converted, bool):
        raise UserError(400, "Bad request")
    return converted


def _draft(invoice_id: str) -> Any:
    invoice = Invoice._api_retrieve(invoice_id)
    if invoice.status != "draft":
        raise UserError(400, f"Invoice {invoice_id} is not a draft")
    return invoice


def _create_invoice(original: Any) -> Any:
    def create(
        cls: Any,
        customer: Any = None,
        subscription: Any = None,
        currency: Any = None,
        collection_method: str = "charge_automatically",
        days_until_due: Any = None,
        auto_advance: Any = None,
        pending_invoice_items_behavior: Any = None,
        description: Any = None,
        metadata: Any = None,
        **kwargs: Any,
    ) -> Any:
        if subscription is not None:
            return original(
                customer=customer,
                subscription=subscription,
                description=description,
                metadata=metadata,
                **kwargs,
            )
        if kwargs:
            raise UserError(400, "Unexpected " + ", ".join(kwargs))
        days = resources.try_convert_to_int(days_until_due)
        if collection_method not in COLLECTION_METHODS or (
            (collection_method == "send_invoice") != isinstance(days, int)
        ):
            raise UserError(400, "Bad request")
        resources.Customer._api_retrieve(customer)  # 404 if unknown
        held = []
        if pending_invoice_items_behavior != "include":
            held = [
                item for item in InvoiceItem._api_list_all(None, customer=customer, limit=99)._list
            ]
            for item in held:
                item.invoice = "held"  # localstripe's constructor sweeps items without invoice
        try:
            invoice = Invoice(customer=customer, description=description, metadata=metadata)
        finally:
            for item in held:
                item.invoice = None
        if currency:
            invoice.currency = str(currency).lower()
        invoice.collection_method = collection_method
        invoice.days_until_due = days
        invoice.auto_advance = _bool(auto_advance)
        return invoice

    return classmethod(create)


def _create_item(original: Any) -> Any:
    def create(
        cls: Any,
        unit_amount_decimal: Any = None,
        quantity: Any = None,
        period: Any = None,
        **data: Any,
    ) -> Any:
        count = resources.try_convert_to_int(quantity) if quantity is not None else 1
        if not isinstance(count, int) or count < 0:
            raise UserError(400, "Bad request")
        if unit_amount_decimal is not None:
            exact = Decimal(str(unit_amount_decimal)) * count
            data["amount"] = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
        if isinstance(period, dict):
            data["period_start"], data["period_end"] = period.get("start"), period.get("end")
        invoice = _draft(data["invoice"]) if data.get("invoice") else None
        if invoice is not None and str(data.get("currency", "")).lower() != invoice.currency:
            raise UserError(400, "The currency of an invoice item must match its invoice")
        item = original(**data)
        item.quantity = count
        item.unit_amount_decimal = None if unit_amount_decimal is None else str(unit_amount_decimal)
        if invoice is not None:
            invoice.lines._list.append(resources.InvoiceLineItem(item))
        return item

    return classmethod(create)


def finalize(id: str, auto_advance: Any = None, **kwargs: Any) -> Any:
    if kwargs:
        raise UserError(400, "Unexpected " + ", ".join(kwargs))
    invoice = _draft(id)
    invoice._finalize()
    if auto_advance is not None:
        invoice.auto_advance = _bool(auto_advance)
    schedule_webhook(resources.Event("invoice.finalized", invoice))
    return invoice


def send(id: str, **kwargs: Any) -> Any:
    if kwargs:
        raise UserError(400, "Unexpected " + ", ".join(kwargs))
    invoice = Invoice._api_retrieve(id)
    if invoice.collection_method != "send_invoice":
        raise UserError(
            400, "You can only manually send an invoice if its collection method is 'send_invoice'."
        )
    if invoice.status == "draft":
        finalize(id)
    if invoice.status != "open":
        raise UserError(400, f"Invoice {id} is {invoice.status}")
    schedule_webhook(resources.Event("invoice.sent", invoice))
    return invoice


def _pay(original: Any) -> Any:
    """localstripe answers 200 when the card is declined and sends no failure events; Stripe
    answers 402 ``card_declined`` and sends ``invoice.payment_failed``."""

    def pay(id: str, **kwargs: Any) -> Any:
        invoice = original(id=id, **kwargs)
        intent_id = invoice.payment_intent
        intent = resources.PaymentIntent._api_retrieve(intent_id) if intent_id else None
        if intent is not None and intent.status == "requires_payment_method":
            schedule_webhook(resources.Event("payment_intent.payment_failed", intent))
            schedule_webhook(resources.Event("invoice.payment_failed", invoice))
            charge = intent.latest_charge
            raise UserError(
                402,
                charge.failure_message,
                {
                    "code": charge.failure_code,
                    "decline_code": "generic_decline",
                    "charge": charge.id,
                    "payment_intent": {"id": intent.id},
                },
            )
        return invoice

    return pay


def _void(original: Any) -> Any:
    """localstripe cannot void an open invoice that has no payment intent yet (sent, unpaid)."""

    def void(id: str, **kwargs: Any) -> Any:
        invoice = Invoice._api_retrieve(id)
        if invoice.payment_intent is not None or invoice.status not in ("draft", "open"):
            return original(id=id, **kwargs)
        invoice._draft = False
        invoice._voided = True
        invoice.status_transitions["voided_at"] = int(time.time())
        schedule_webhook(resources.Event("invoice.voided", invoice))
        return invoice

    return void


def _with_invoice_paid(original: Any) -> Any:
    def on_payment_success(self: Any) -> None:
        original(self)
        schedule_webhook(resources.Event("invoice.paid", self))

    return on_payment_success


def install() -> None:
    Invoice._api_create = _create_invoice(Invoice._api_create)
    InvoiceItem._api_create = _create_item(InvoiceItem._api_create)
    Invoice._on_payment_success = _with_invoice_paid(Invoice._on_payment_success)
    for url, func in (("/v1/invoices/{id}/finalize", finalize), ("/v1/invoices/{id}/send", send)):
        server.app.router.add_route("POST", url, server.api_extra(func, url))
    server.app.middlewares.append(
        _replaced_routes(
            {
                "pay": server.api_extra(_pay(Invoice._api_pay_invoice), "/v1/invoices/{id}/pay"),
                "void": server.api_extra(
                    _void(Invoice._api_void_invoice), "/v1/invoices/{id}/void"
                ),
            }
        )
    )


def _replaced_routes(handlers: dict[str, Handler]) -> Any:
    """localstripe registered its own pay/void routes at import; answer those paths ourselves
    (innermost middleware: authentication, error rendering and persistence still apply)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        match = _INVOICE_ACTION.match(request.path)
        if request.method == "POST" and match and match["action"] in handlers:
            return await handlers[match["action"]](request)
        return await handler(request)

    return middleware
