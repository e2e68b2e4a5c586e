"""Customer sync, payment methods, invoice push and payments against localstripe, through the
outbox exactly as workers run it (in-process here; tests/stripe/test_end_to_end.py uses a real
worker and webhooks)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests
from django.utils import timezone

from accounts.services import customer_create, customer_update
from billingsite.models import OutboxMessage
from billingsite.outbox.services import outbox_dispatch
from invoicing.models import Payment, StripeInvoice, StripePaymentMethod
from invoicing.stripe.customers import customer_stripe_refresh_request
from invoicing.stripe.invoice_push import stripe_invoice_refresh, stripe_invoices_poll
from tests.stripe.sync_support import finalized_invoice
from tests.stripe_support import LOCALSTRIPE_API_KEY, LocalStripe

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def stripe_get(localstripe: LocalStripe, path: str) -> dict[str, Any]:
    response = requests.get(localstripe.base_url + path, auth=(LOCALSTRIPE_API_KEY, ""), timeout=5)
    response.raise_for_status()
    return response.json()


def synced_customer(localstripe: LocalStripe, *cards: str) -> Any:
    """A customer created through the service (so the outbox syncs it) with cards attached on
    Stripe, the first one as the default for invoices."""
    customer = customer_create(
        external_id=f"ls-{uuid.uuid4().hex[:10]}",
        name="Initech",
        email="ap@initech.test",
        city="Austin",
        country="US",
    )
    assert outbox_dispatch().as_dict()["sent"] == 1
    customer.refresh_from_db()
    for number in cards:
        pm = localstripe.card_payment_method(number)
        requests.post(
            f"{localstripe.base_url}/v1/payment_methods/{pm}/attach",
            data={"customer": customer.stripe_customer_id},
            auth=(LOCALSTRIPE_API_KEY, ""),
            timeout=5,
        ).raise_for_status()
        if number == cards[0]:
            requests.post(
                f"{localstripe.base_url}/v1/customers/{customer.stripe_customer_id}",
                data={"invoice_settings[default_payment_method]": pm},
                auth=(LOCALSTRIPE_API_KEY, ""),
                timeout=5,
            ).raise_for_status()
    return customer


def test_customer_create_and_update_reach_stripe_once(localstripe_settings):
    customer = synced_customer(localstripe_settings)
    remote = stripe_get(localstripe_settings, f"/v1/customers/{customer.stripe_customer_id}")
    assert (remote["email"], remote["name"]) == ("ap@initech.test", "Initech")
    assert remote["metadata"] == {
        "tally_customer_id": str(customer.pk),
        "tally_external_id": customer.external_id,
    }
    customer_update(customer=customer, email="billing@initech.test")
    customer_update(customer=customer, timezone="Europe/Paris")  # not a Stripe field: no row
    assert OutboxMessage.objects.filter(key__startswith=f"customer:{customer.pk}:").count() == 2
    assert outbox_dispatch().as_dict()["sent"] == 1
    remote = stripe_get(localstripe_settings, f"/v1/customers/{customer.stripe_customer_id}")
    assert remote["email"] == "billing@initech.test"
    matching = [
        c
        for c in stripe_get(localstripe_settings, "/v1/customers?limit=100")["data"]
        if c["metadata"].get("tally_customer_id") == str(customer.pk)
    ]
    assert len(matching) == 1


def test_payment_methods_and_default_are_read_back(localstripe_settings):
    customer = synced_customer(localstripe_settings, "4242424242424242", "5555555555554444")
    customer_stripe_refresh_request(customer=customer)
    assert outbox_dispatch().as_dict()["sent"] == 1
    methods = {pm.last4: pm for pm in StripePaymentMethod.objects.filter(customer=customer)}
    assert set(methods) == {"4242", "4444"}
    assert methods["4242"].is_default and not methods["4444"].is_default
    assert methods["4242"].brand == "visa" and methods["4242"].exp_year == 2034


def test_finalized_invoice_is_charged_and_the_poll_marks_it_paid(localstripe_settings):
    customer = synced_customer(localstripe_settings, "4242424242424242")
    invoice = finalized_invoice(customer)
    assert outbox_dispatch().as_dict() == {"sent": 1, "retry": 0, "dead": 0, "skipped": 0}
    mirror = StripeInvoice.objects.get(invoice=invoice)
    remote = stripe_get(localstripe_settings, f"/v1/invoices/{mirror.stripe_id}")
    assert remote["status"] == "paid"
    assert remote["total"] == 1999 + 1534 + 44 == remote["amount_paid"]
    assert len(remote["lines"]["data"]) == invoice.lines.count()
    invoice.refresh_from_db()
    assert invoice.status == "finalized"  # payment status comes from webhooks or the poll
    assert stripe_invoices_poll(now=timezone.now(), quiet_minutes=0)["polled"] == 1
    invoice.refresh_from_db()
    payment = Payment.objects.get(invoice=invoice)
    assert invoice.status == "paid"
    assert (payment.status, str(payment.amount_captured.amount)) == ("succeeded", "35.7700")
    assert payment.stripe_charge_id and payment.stripe_charge_id.startswith("ch_")


def test_declined_card_shows_as_a_failed_payment_with_stripes_reason(localstripe_settings):
    customer = synced_customer(localstripe_settings, "4000000000000341")
    invoice = finalized_invoice(customer)
    outbox_dispatch()
    row = OutboxMessage.objects.get(key=f"invoice:{invoice.pk}:finalize")
    assert (row.state, row.result["collection"]) == ("sent", "declined")
    payment = Payment.objects.get(invoice=invoice)
    assert payment.status == "failed"
    assert payment.failure_message and payment.failure_code == "card_declined"
    invoice.refresh_from_db()
    assert invoice.status == "finalized"


def test_a_refund_on_stripe_shows_on_the_payment(localstripe_settings, localstripe_gateway):
    customer = synced_customer(localstripe_settings, "4242424242424242")
    invoice = finalized_invoice(customer)
    outbox_dispatch()
    mirror = StripeInvoice.objects.get(invoice=invoice)
    intent = stripe_get(localstripe_settings, f"/v1/invoices/{mirror.stripe_id}")["payment_intent"]
    localstripe_gateway.refund_create(
        idempotency_key=f"refund:test:{uuid.uuid4().hex}", payment_intent_id=intent, amount=1234
    )
    stripe_invoice_refresh(stripe_invoice_id=mirror.stripe_id)
    payment = Payment.objects.get(invoice=invoice)
    assert str(payment.amount_captured.amount) == "35.7700"
    assert str(payment.amount_refunded.amount) == "12.3400"
