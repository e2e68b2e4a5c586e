"""POST /webhooks/stripe/: signatures (bad, old, rotated), raw storage unique on the event id,
duplicate and out-of-order deliveries, unknown types, failures and replay (invariant 6)."""

from __future__ import annotations

import json
import time

import pytest
from django.contrib.auth.models import User

from invoicing.models import (
    InvoiceTransition,
    Payment,
    StripeInvoice,
    StripeWebhookEvent,
    WebhookStatus,
)
from invoicing.stripe.events import handlers
from invoicing.stripe.inbox import webhook_event_process, webhook_pending_ids
from tests.stripe.sync_support import (
    SECRET,
    finalized_invoice,
    link,
    post_event,
    stripe_event,
    stripe_invoice_obj,
)
from tests.stripe_support import fixture_object

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _secrets(settings):
    settings.STRIPE_WEBHOOK_SECRETS = ["whsec_new_after_rotation", SECRET]


def _deliver(client, payload: bytes, **kwargs) -> StripeWebhookEvent:
    response = post_event(client, payload, **kwargs)
    assert response.status_code == 200, response.content
    row = StripeWebhookEvent.objects.get(stripe_id=json.loads(payload)["id"])
    webhook_event_process(event_pk=row.pk)
    row.refresh_from_db()
    return row


def test_signed_event_is_stored_raw_and_answered_200(client):
    payload = stripe_event("customer.created", "customer", id="evt_store_1")
    response = post_event(client, payload)
    assert response.status_code == 200
    assert response.json() == {"received": True, "id": "evt_store_1", "duplicate": False}
    row = StripeWebhookEvent.objects.get()
    assert row.body.encode() == payload  # byte for byte what Stripe sent
    assert (row.type, row.status, row.attempts) == ("customer.created", "received", 0)


@pytest.mark.parametrize(
    "header",
    [
        "t=1700000000,v1=" + "0" * 64,  # wrong signature (and old)
        "v1=abc",  # no timestamp
        "",  # missing
    ],
)
def test_bad_signatures_are_refused_and_nothing_is_stored(client, header):
    payload = stripe_event("invoice.paid", "invoice")
    response = post_event(client, payload, header=header)
    assert response.status_code == 400
    assert response.json()["error"]["code"].startswith("signature_")
    assert not StripeWebhookEvent.objects.exists()


def test_signature_with_another_secret_is_refused(client):
    response = post_event(client, stripe_event("invoice.paid", "invoice"), secret="whsec_other")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "signature_mismatch"
    assert not StripeWebhookEvent.objects.exists()


def test_old_timestamp_is_refused_even_with_a_valid_signature(client):
    payload = stripe_event("invoice.paid", "invoice")
    response = post_event(client, payload, timestamp=int(time.time()) - 301)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "signature_timestamp_outside_tolerance"
    assert not StripeWebhookEvent.objects.exists()


def test_both_secrets_work_during_a_rotation(client):
    for n, secret in enumerate(("whsec_new_after_rotation", SECRET)):
        response = post_event(
            client, stripe_event("customer.created", "customer", id=f"evt_rot_{n}"), secret=secret
        )
        assert response.status_code == 200
    assert StripeWebhookEvent.objects.count() == 2


def test_invoice_paid_marks_the_tally_invoice_paid_once_however_often_delivered(client):
    invoice = finalized_invoice()
    link(invoice, "in_paid_once")
    paid = stripe_invoice_obj(
        invoice,
        "in_paid_once",
        "paid",
        amount_paid=1000,
        status_transitions={"paid_at": 1767225600},
    )
    payload = stripe_event("invoice.paid", paid, id="evt_paid_once")
    row = _deliver(client, payload)
    again = post_event(client, payload)  # Stripe redelivers the same event
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert webhook_event_process(event_pk=row.pk) == "skipped"
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert invoice.paid_at.timestamp() == 1767225600
    assert row.status == WebhookStatus.PROCESSED and row.attempts == 1
    assert StripeWebhookEvent.objects.count() == 1
    assert InvoiceTransition.objects.filter(invoice=invoice, to_status="paid").count() == 1
    assert StripeInvoice.objects.get(stripe_id="in_paid_once").status == "paid"


def test_out_of_order_payment_failed_after_paid_changes_nothing(client):
    invoice = finalized_invoice()
    link(invoice, "in_ooo")
    now = int(time.time())
    failed = stripe_event(
        "invoice.payment_failed", stripe_invoice_obj(invoice, "in_ooo", "open"), created=now - 60
    )
    paid = stripe_event("invoice.paid", stripe_invoice_obj(invoice, "in_ooo", "paid"), created=now)
    assert _deliver(client, paid).status == WebhookStatus.PROCESSED
    assert _deliver(client, failed).status == WebhookStatus.PROCESSED  # older: ignored
    invoice.refresh_from_db()
    mirror = StripeInvoice.objects.get(stripe_id="in_ooo")
    assert (invoice.status, mirror.status) == ("paid", "paid")
    assert mirror.last_event_at.timestamp() == now


def test_older_snapshot_of_a_payment_does_not_undo_a_newer_one(client):
    invoice = finalized_invoice()
    invoice.customer.stripe_customer_id = "cus_ooo"
    invoice.customer.save()
    now = int(time.time())
    base = {
        "id": "pi_ooo",
        "customer": "cus_ooo",
        "amount": 2000,
        "currency": "usd",
        "metadata": {"tally_invoice_id": str(invoice.pk)},
    }
    succeeded = {
        **base,
        "status": "succeeded",
        "amount_received": 2000,
        "latest_charge": "ch_ooo",
        "last_payment_error": None,
    }
    failed = {
        **base,
        "status": "requires_payment_method",
        "amount_received": 0,
        "last_payment_error": {
            "code": "card_declined",
            "decline_code": "expired_card",
            "message": "Your card has expired.",
        },
    }
    _deliver(
        client,
        stripe_event(
            "payment_intent.succeeded",
            {**fixture_object("payment_intent"), **succeeded},
            created=now,
        ),
    )
    _deliver(
        client,
        stripe_event(
            "payment_intent.payment_failed",
            {**fixture_object("payment_intent"), **failed},
            created=now - 30,
        ),
    )
    payment = Payment.objects.get(stripe_payment_intent_id="pi_ooo")
    assert payment.status == "succeeded" and str(payment.amount_captured.amount) == "20.0000"
    assert payment.stripe_charge_id == "ch_ooo" and payment.invoice_id == invoice.pk
    assert payment.failure_message == ""


def test_failed_payment_keeps_stripes_reason(client):
    invoice = finalized_invoice()
    invoice.customer.stripe_customer_id = "cus_declined"
    invoice.customer.save()
    intent = fixture_object(
        "payment_intent",
        id="pi_declined",
        customer="cus_declined",
        amount=4321,
        status="requires_payment_method",
        metadata={"tally_invoice_id": str(invoice.pk)},
        last_payment_error={
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
        },
    )
    _deliver(client, stripe_event("payment_intent.payment_failed", intent))
    payment = Payment.objects.get(stripe_payment_intent_id="pi_declined")
    assert (payment.status, payment.failure_code, payment.decline_code) == (
        "failed",
        "card_declined",
        "insufficient_funds",
    )
    assert payment.failure_message == "Your card has insufficient funds."
    assert str(payment.amount.amount) == "43.2100" and payment.invoice_id == invoice.pk


def test_unknown_event_types_are_stored_and_ignored(client):
    row = _deliver(client, stripe_event("customer.tax_id.created", "customer"))
    assert row.status == WebhookStatus.IGNORED and row.error == ""


def test_event_for_an_invoice_we_do_not_know_is_harmless(client):
    row = _deliver(client, stripe_event("invoice.paid", "invoice"))
    assert row.status == WebhookStatus.PROCESSED
    assert not StripeInvoice.objects.exists()


def test_failing_handler_rolls_back_marks_failed_and_replay_applies_it_once(client):
    invoice = finalized_invoice()
    link(invoice, "in_flaky")
    calls = []

    def flaky(event):
        calls.append(event.id)
        if len(calls) == 1:
            raise RuntimeError("database hiccup")

    handlers.register("invoice.paid", flaky)  # runs after invoicing's own handler
    try:
        row = _deliver(
            client, stripe_event("invoice.paid", stripe_invoice_obj(invoice, "in_flaky", "paid"))
        )
        assert row.status == WebhookStatus.FAILED and "database hiccup" in row.error
        invoice.refresh_from_db()
        assert invoice.status == "finalized"  # the invoicing handler's effect rolled back
        assert row.pk in webhook_pending_ids(older_than_seconds=0)
        admin = User.objects.create_superuser("root", "root@example.com", "pw")
        client.force_login(admin)
        response = client.post(
            "/admin/invoicing/stripewebhookevent/",
            {"action": "replay", "_selected_action": [row.pk]},
        )
        assert response.status_code == 200 and "processed" in response.content.decode()
    finally:
        handlers.unregister("invoice.paid", flaky)
    row.refresh_from_db()
    invoice.refresh_from_db()
    assert (row.status, row.attempts, invoice.status) == ("processed", 2, "paid")
    assert InvoiceTransition.objects.filter(invoice=invoice, to_status="paid").count() == 1


def test_admin_lists_events_with_status_and_error(client):
    _deliver(client, stripe_event("customer.tax_id.created", "customer", id="evt_admin_1"))
    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    response = client.get("/admin/invoicing/stripewebhookevent/?status__exact=ignored")
    assert response.status_code == 200 and "evt_admin_1" in response.content.decode()


def test_charge_events_mirror_captured_and_refunded_amounts_in_any_order(client):
    invoice = finalized_invoice()
    invoice.customer.stripe_customer_id = "cus_charges"
    invoice.customer.save()
    now = int(time.time())
    charge = fixture_object(
        "charge",
        id="ch_mirror",
        customer="cus_charges",
        payment_intent="pi_mirror",
        amount=3577,
        amount_captured=3577,
        captured=True,
        currency="usd",
        status="succeeded",
        metadata={"tally_invoice_id": str(invoice.pk)},
    )
    refunded = {**charge, "amount_refunded": 500, "refunded": False}
    _deliver(client, stripe_event("charge.refunded", refunded, created=now))
    _deliver(
        client, stripe_event("charge.succeeded", {**charge, "amount_refunded": 0}, created=now - 5)
    )  # older, delivered late
    payment = Payment.objects.get(stripe_charge_id="ch_mirror")
    assert payment.stripe_payment_intent_id == "pi_mirror" and payment.invoice_id == invoice.pk
    assert (str(payment.amount_captured.amount), str(payment.amount_refunded.amount)) == (
        "35.7700",
        "5.0000",
    )
    failed = fixture_object(
        "charge",
        id="ch_failed",
        customer="cus_charges",
        payment_intent="pi_failed",
        amount=3577,
        amount_captured=0,
        captured=False,
        currency="usd",
        status="failed",
        failure_code="card_declined",
        failure_message="Your card was declined.",
        outcome={"reason": "generic_decline"},
    )
    _deliver(client, stripe_event("charge.failed", failed))
    declined = Payment.objects.get(stripe_charge_id="ch_failed")
    assert (declined.status, declined.failure_code, declined.decline_code) == (
        "failed",
        "card_declined",
        "generic_decline",
    )
    assert declined.failure_message == "Your card was declined."


def test_dispute_events_are_not_taken_for_charges(client):
    from invoicing.stripe.event_handlers import on_charge_event

    assert on_charge_event not in handlers.handlers_for("charge.dispute.created")
    _deliver(client, stripe_event("charge.dispute.created", "dispute"))
    assert not Payment.objects.exists()
