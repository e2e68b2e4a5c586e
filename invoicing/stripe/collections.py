"""Payment retries of collections on Stripe: the outbox handler of ``collections.retry``.

``invoicing.collections.services`` writes one outbox row per retry step, keyed
``invoice:<id>:collections:retry:<n>``; this handler asks Stripe to pay the open Stripe invoice
with that key as the idempotency key, so a resent row never charges twice. A declined card is
an outcome (recorded on the step), not a send failure; a transient error is retried by the
outbox with backoff. The result is then read back as a late webhook would be, which marks the
Tally invoice paid and resolves its collections (``mirror``).
"""

from __future__ import annotations

from typing import Any

from billingsite.outbox.models import OutboxMessage
from billingsite.outbox.registry import register_outbox_handler
from invoicing.collections.services import collection_step_record
from invoicing.collections.topics import COLLECTION_RETRY_TOPIC
from invoicing.models import DunningOutcome, Invoice, StripeInvoice
from invoicing.states import OPEN_STATUSES
from invoicing.stripe import errors
from invoicing.stripe.errors import StripeGatewayError
from invoicing.stripe.gateway import default_gateway
from invoicing.stripe.invoice_push import stripe_invoice_refresh

OUTCOMES_OF_A_REFUSAL = (errors.CARD_ERROR, errors.INVALID_REQUEST, errors.NOT_FOUND)


def collection_retry(message: OutboxMessage) -> dict[str, Any]:
    invoice_id = int(message.payload["invoice_id"])
    step = str(message.payload["step"])
    status = Invoice.objects.values_list("status", flat=True).get(pk=invoice_id)
    mirror = StripeInvoice.objects.filter(invoice_id=invoice_id).first()
    skip = None
    if status not in OPEN_STATUSES:
        skip = f"invoice {status}"
    elif mirror is None:
        skip = "not on Stripe"
    elif mirror.status != "open":
        skip = f"stripe invoice {mirror.status}"
    if skip is not None:
        collection_step_record(
            invoice_id=invoice_id, step=step, outcome=DunningOutcome.SKIPPED, details={"why": skip}
        )
        return {"skipped": skip}
    assert mirror is not None
    gateway = default_gateway()
    try:
        gateway.invoice_pay(mirror.stripe_id, idempotency_key=message.key)
    except StripeGatewayError as exc:
        if exc.code not in OUTCOMES_OF_A_REFUSAL:
            raise  # transient: the outbox retries with the same key
        details = {
            "stripe_code": exc.stripe_code or "",
            "decline_code": exc.decline_code or "",
            "message": exc.message,
        }
        collection_step_record(
            invoice_id=invoice_id, step=step, outcome=DunningOutcome.FAILED, details=details
        )
        stripe_invoice_refresh(stripe_invoice_id=mirror.stripe_id, gateway=gateway)
        return {"collection": "declined", **details}
    collection_step_record(invoice_id=invoice_id, step=step, outcome=DunningOutcome.SUCCEEDED)
    applied = stripe_invoice_refresh(stripe_invoice_id=mirror.stripe_id, gateway=gateway)
    return {"collection": "charged", "applied": applied}


def register() -> None:
    register_outbox_handler(COLLECTION_RETRY_TOPIC, collection_retry)
