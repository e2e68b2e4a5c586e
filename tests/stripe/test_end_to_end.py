"""End to end: finalize an invoice -> a real Celery worker pushes it through the outbox ->
localstripe creates and charges the Stripe invoice -> localstripe delivers the signed
``invoice.paid`` webhook to the running test server -> the worker processes it -> the Tally
invoice is paid. Nothing in this test calls Tally's Stripe code directly."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
import requests

from accounts.services import customer_create
from billingsite.models import OutboxMessage
from invoicing.models import (
    Invoice,
    InvoiceTransition,
    Payment,
    StripeInvoice,
    StripeWebhookEvent,
)
from tests.stripe.sync_support import finalized_invoice
from tests.stripe_support import DEAD_LOOPBACK, LOCALSTRIPE_API_KEY
from tests.workers import celery_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def wait_for(condition: Callable[[], object], timeout: float = 30, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_finalized_invoice_is_paid_on_stripe_and_marked_paid_by_the_webhook(
    localstripe_settings, live_server, settings
):
    localstripe = localstripe_settings
    secret = f"whsec_{uuid.uuid4().hex}"
    settings.STRIPE_WEBHOOK_SECRETS = [secret]
    hook = f"e2e-{uuid.uuid4().hex[:8]}"
    localstripe.register_webhook(hook, live_server.url + "/webhooks/stripe/", secret)
    env = {
        "STRIPE_API_BASE": localstripe.base_url,
        "STRIPE_API_KEY": LOCALSTRIPE_API_KEY,
        "STRIPE_WEBHOOK_SECRETS": secret,
    }
    try:
        with celery_worker(queues="stripe", extra_env=env):
            customer = customer_create(
                external_id=f"e2e-{uuid.uuid4().hex[:8]}", name="Hooli", email="ap@hooli.test"
            )
            customer.refresh_from_db()
            wait_for(
                lambda: customer.__class__.objects.get(pk=customer.pk).stripe_customer_id,
                what="the customer sync",
            )
            customer.refresh_from_db()
            card = localstripe.card_payment_method("4242424242424242")
            auth = (LOCALSTRIPE_API_KEY, "")
            requests.post(
                f"{localstripe.base_url}/v1/payment_methods/{card}/attach",
                data={"customer": customer.stripe_customer_id},
                auth=auth,
                timeout=5,
            ).raise_for_status()
            requests.post(
                f"{localstripe.base_url}/v1/customers/{customer.stripe_customer_id}",
                data={"invoice_settings[default_payment_method]": card},
                auth=auth,
                timeout=5,
            ).raise_for_status()

            invoice = finalized_invoice(customer)
            wait_for(
                lambda: Invoice.objects.get(pk=invoice.pk).status == "paid",
                timeout=45,
                what="the invoice.paid webhook",
            )
            # payment_intent.succeeded is a separate delivery; it may be processed after.
            wait_for(
                lambda: Payment.objects.filter(
                    customer=customer, invoice=invoice, status="succeeded"
                ).exists(),
                timeout=20,
                what="the payment_intent.succeeded webhook",
            )
            # The invoice can turn paid through the payment before the worker has processed
            # the invoice.paid delivery itself: wait for that too, then check how it went.
            wait_for(
                lambda: (
                    StripeWebhookEvent.objects.filter(type="invoice.paid")
                    .exclude(status="received")
                    .exists()
                ),
                timeout=20,
                what="the invoice.paid delivery to be processed",
            )
    finally:
        localstripe.register_webhook(hook, DEAD_LOOPBACK + "/", secret)

    invoice.refresh_from_db()
    mirror = StripeInvoice.objects.get(invoice=invoice)
    paid_event = StripeWebhookEvent.objects.get(type="invoice.paid", object_id=mirror.stripe_id)
    assert paid_event.status == "processed" and paid_event.attempts == 1
    [transition] = InvoiceTransition.objects.filter(invoice=invoice, to_status="paid")
    assert transition.reason == f"paid on Stripe ({mirror.stripe_id})"
    assert mirror.status == "paid" and mirror.amount_paid_minor == 1999 + 1534 + 44
    assert set(OutboxMessage.objects.values_list("state", flat=True)) == {"sent"}
    payment = Payment.objects.get(customer=customer)
    assert payment.invoice_id == invoice.pk and payment.status == "succeeded"
    assert payment.amount_captured == invoice.total
