"""Refunds reach Stripe once through the outbox (recording client: a worker that timed out after
Stripe answered resends the same key), and signed webhooks settle them in any order."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest

from billingsite.outbox.models import OutboxMessage
from billingsite.outbox.services import outbox_dispatch, outbox_retry_now
from disputes.models import LedgerAccount, Refund
from disputes.services.ledger import balance
from disputes.services.refunds import refund_request
from invoicing.models import StripeWebhookEvent
from invoicing.stripe.inbox import webhook_event_process
from tests.disputes.factories import paid_invoice_payment, staff
from tests.stripe.sync_support import SECRET, post_event
from tests.stripe_support import fixture_object, stripe_event

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _secrets(settings):
    settings.STRIPE_WEBHOOK_SECRETS = [SECRET]
    settings.REFUND_APPROVAL_THRESHOLD = Decimal("100000")


def deliver(client, payload: bytes) -> StripeWebhookEvent:
    assert post_event(client, payload).status_code == 200
    row = StripeWebhookEvent.objects.get(stripe_id=json.loads(payload)["id"])
    webhook_event_process(event_pk=row.pk)
    row.refresh_from_db()
    return row


def test_refund_sent_once_with_its_key_even_after_a_timeout(
    recording_default_gateway, recording_client
):
    _, payment = paid_invoice_payment()
    refund = refund_request(
        payment=payment, amount=Decimal("3.50"), reason="duplicate", actor=staff("support")
    )
    recording_client.fail("POST", "/v1/refunds", times=1, kind="timeout_after_success")
    outbox_dispatch(topics=["stripe.refund.create"])
    row = OutboxMessage.objects.get(key=f"refund:{refund.pk}")
    assert row.state == "failed" and Refund.objects.get(pk=refund.pk).status == "approved"
    outbox_retry_now(message_ids=[row.pk])
    outbox_dispatch(topics=["stripe.refund.create"])
    row.refresh_from_db()
    refund.refresh_from_db()
    sent = recording_client.requests_to("POST", "/v1/refunds")
    assert len(sent) == 2 and len(recording_client.executed) == 1
    assert {r.headers["Idempotency-Key"] for r in sent} == {f"refund:{refund.pk}"}
    assert sent[0].form["amount"] == "350" and sent[0].form["reason"] == "duplicate"
    assert sent[0].form["payment_intent"] == payment.stripe_payment_intent_id
    assert sent[0].form["metadata[tally_refund_id]"] == str(refund.pk)
    assert row.state == "sent"
    assert refund.stripe_refund_id == recording_client.answers[0]["id"]
    assert refund.status == "succeeded" and refund.credit_note.total.amount == Decimal("3.50")


def test_canceled_before_sending_sends_nothing(recording_default_gateway, recording_client):
    _, payment = paid_invoice_payment()
    refund = refund_request(
        payment=payment, amount=Decimal("1.00"), reason="other", actor=staff("support")
    )
    Refund.objects.filter(pk=refund.pk).update(status="canceled")
    outbox_dispatch(topics=["stripe.refund.create"])
    assert recording_client.requests_to("POST", "/v1/refunds") == []


def _pending_refund(recording_client):
    _, payment = paid_invoice_payment()
    refund = refund_request(
        payment=payment, amount=Decimal("2.00"), reason="other", actor=staff("support")
    )
    recording_client.on(
        "POST",
        "/v1/refunds",
        fixture_object("refund", id="re_pending1", status="pending", amount=200),
    )
    outbox_dispatch(topics=["stripe.refund.create"])
    refund.refresh_from_db()
    assert (refund.status, refund.stripe_refund_id) == ("pending", "re_pending1")
    return refund


def test_webhooks_settle_a_pending_refund_once_in_any_order(
    client, recording_default_gateway, recording_client
):
    refund = _pending_refund(recording_client)
    now = int(time.time())
    action = stripe_event(
        "refund.updated",
        fixture_object("refund", id="re_pending1", status="requires_action", amount=200),
        created=now + 1,
    )
    done = stripe_event(
        "refund.updated",
        fixture_object("refund", id="re_pending1", status="succeeded", amount=200),
        created=now + 5,
    )
    deliver(client, done)
    deliver(client, action)  # older snapshot arriving late: ignored
    again = deliver(client, done)  # duplicate delivery
    refund.refresh_from_db()
    assert refund.status == "succeeded" and again.status == "processed"
    assert refund.transitions.filter(to_status="succeeded").count() == 1
    assert balance(LedgerAccount.REFUNDS) == Decimal("2.00")


def test_requires_action_then_failed_from_refund_events(
    client, recording_default_gateway, recording_client
):
    refund = _pending_refund(recording_client)
    now = int(time.time())
    deliver(
        client,
        stripe_event(
            "refund.updated",
            fixture_object("refund", id="re_pending1", status="requires_action"),
            created=now + 1,
        ),
    )
    refund.refresh_from_db()
    assert refund.status == "requires_action"
    deliver(
        client,
        stripe_event(
            "refund.failed",
            fixture_object(
                "refund",
                id="re_pending1",
                status="failed",
                failure_reason="expired_or_canceled_card",
            ),
            created=now + 2,
        ),
    )
    refund.refresh_from_db()
    assert (refund.status, refund.failure_reason) == ("failed", "expired_or_canceled_card")
    assert balance(LedgerAccount.CASH) == 0


def test_charge_refunded_settles_refunds_it_lists(
    client, recording_default_gateway, recording_client
):
    refund = _pending_refund(recording_client)
    charge = fixture_object(
        "charge", id=refund.payment.stripe_charge_id, amount_refunded=200, refunded=False
    )
    charge["refunds"] = {
        "object": "list",
        "data": [fixture_object("refund", id="re_pending1", status="succeeded", amount=200)],
    }
    deliver(client, stripe_event("charge.refunded", charge, created=int(time.time()) + 3))
    refund.refresh_from_db()
    assert refund.status == "succeeded" and refund.credit_note is not None


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_resend_after_a_lost_worker_makes_one_refund_on_localstripe(
    localstripe, localstripe_settings, localstripe_gateway
):
    """The row is sent, then (as if the worker died before recording it) sent again with the
    same key: localstripe replays the first answer and the charge is refunded once."""
    from uuid import uuid4

    from billingsite.money import round_line, to_minor_units
    from invoicing.models import Payment

    _, payment = paid_invoice_payment()
    customer = localstripe_gateway.customer_create(
        idempotency_key=f"customer:{uuid4().hex}", email="r@x.example", name="R"
    )
    card = localstripe.card_payment_method()
    localstripe_gateway.payment_method_attach(
        card, customer.id, idempotency_key=f"pm:{uuid4().hex}"
    )
    minor = to_minor_units(
        round_line(payment.amount_captured.amount, payment.currency), payment.currency
    )
    intent = localstripe_gateway.payment_intent_create(
        customer.id,
        amount=minor,
        currency=payment.currency,
        payment_method_id=card,
        idempotency_key=f"payment:{uuid4().hex}",
    )
    charge = (
        intent.latest_charge if isinstance(intent.latest_charge, str) else intent.latest_charge.id
    )
    Payment.objects.filter(pk=payment.pk).update(
        stripe_payment_intent_id=intent.id, stripe_charge_id=charge
    )
    payment.refresh_from_db()
    refund = refund_request(
        payment=payment, amount=Decimal("4.00"), reason="other", actor=staff("support")
    )
    OutboxMessage.objects.filter(key=f"refund:{refund.pk}").update(
        key=f"refund:{refund.pk}:{uuid4().hex[:8]}"
    )
    outbox_dispatch(topics=["stripe.refund.create"])
    row = OutboxMessage.objects.get(topic="stripe.refund.create")
    first = row.result["stripe_refund_id"]
    OutboxMessage.objects.filter(pk=row.pk).update(state="pending", next_attempt_at=row.created_at)
    outbox_dispatch(topics=["stripe.refund.create"])
    row.refresh_from_db()
    assert row.result["stripe_refund_id"] == first and row.attempts == 2
    assert localstripe_gateway.charge_retrieve(charge).amount_refunded == 400
    refund.refresh_from_db()
    assert (refund.status, refund.stripe_refund_id) == ("succeeded", first)
