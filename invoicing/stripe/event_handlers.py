"""Invoicing's webhook handlers, registered in ``InvoicingConfig.ready()``.

``disputes`` registers its own (``charge.dispute.*``, ``charge.refund.*``, ``refund.*``) the
same way; invoicing never imports it. Charge events are registered by exact type so a dispute
event is never mistaken for a charge.
"""

from __future__ import annotations

from datetime import UTC, datetime

from invoicing.collections.services import collection_start
from invoicing.stripe.events import StripeEvent, handlers
from invoicing.stripe.mirror import (
    charge_apply,
    payment_intent_apply,
    stripe_invoice_apply,
    tally_invoice_id_of,
)

INVOICE_EVENTS = (
    "invoice.created",
    "invoice.finalized",
    "invoice.sent",
    "invoice.updated",
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
    "invoice.payment_action_required",
    "invoice.voided",
    "invoice.marked_uncollectible",
)
CHARGE_EVENTS = (
    "charge.succeeded",
    "charge.failed",
    "charge.pending",
    "charge.captured",
    "charge.refunded",
    "charge.updated",
    "charge.expired",
)


def _at(event: StripeEvent) -> datetime:
    return datetime.fromtimestamp(event.created, tz=UTC)


def on_invoice_event(event: StripeEvent) -> None:
    stripe_invoice_apply(event.data_object, at=_at(event))
    if event.type == "invoice.payment_failed":
        invoice_id = tally_invoice_id_of(event.data_object)
        if invoice_id is not None:  # starts collections once (a no-op when started already)
            collection_start(invoice_id=invoice_id, at=_at(event), reason="invoice.payment_failed")


def on_payment_intent_event(event: StripeEvent) -> None:
    payment_intent_apply(event.data_object, at=_at(event))


def on_charge_event(event: StripeEvent) -> None:
    charge_apply(event.data_object, at=_at(event))


def register() -> None:
    for event_type in INVOICE_EVENTS:
        handlers.register(event_type, on_invoice_event)
    handlers.register("payment_intent.*", on_payment_intent_event)
    for event_type in CHARGE_EVENTS:
        handlers.register(event_type, on_charge_event)
