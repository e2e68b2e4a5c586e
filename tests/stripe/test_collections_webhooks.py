"""Collections hooked on the Stripe wing's webhooks: ``invoice.payment_failed`` starts them
once (redelivered, nothing more), ``invoice.paid`` resolves them and clears the past-due
flag."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from invoicing.collections.schedule import DunningSchedule
from invoicing.collections.services import collection_advance
from invoicing.models import DunningStep, StripeWebhookEvent
from invoicing.stripe.inbox import webhook_event_process
from tests.stripe.sync_support import (
    SECRET,
    finalized_invoice,
    link,
    post_event,
    stripe_event,
    stripe_invoice_obj,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _secrets(settings):
    settings.STRIPE_WEBHOOK_SECRETS = [SECRET]


def deliver(client, payload: bytes) -> None:
    assert post_event(client, payload).status_code == 200
    row = StripeWebhookEvent.objects.get(stripe_id=json.loads(payload)["id"])
    webhook_event_process(event_pk=row.pk)


def test_payment_failed_starts_collections_once_and_paid_resolves_them(client):
    invoice = finalized_invoice(collection_method="charge_automatically")
    link(invoice, "in_dunning")
    failed = stripe_invoice_obj(invoice, "in_dunning", "open", attempt_count=1)
    deliver(client, stripe_event("invoice.payment_failed", failed))
    deliver(client, stripe_event("invoice.payment_failed", failed))  # a second failure
    (step,) = DunningStep.objects.filter(invoice=invoice)
    assert (step.step, step.details["reason"]) == ("payment_failed", "invoice.payment_failed")

    schedule = DunningSchedule(retry_days=(3,), reminder_days=(), suspend_after_days=None)
    collection_advance(
        invoice_id=invoice.pk, now=step.taken_at + timedelta(days=1), schedule=schedule
    )
    invoice.refresh_from_db()
    invoice.customer.refresh_from_db()
    assert invoice.status == "past_due" and invoice.customer.past_due_since == invoice.due_at

    paid = stripe_invoice_obj(
        invoice, "in_dunning", "paid", amount_paid=3577, total=3577, amount_due=3577
    )
    deliver(client, stripe_event("invoice.paid", paid))
    invoice.refresh_from_db()
    invoice.customer.refresh_from_db()
    assert invoice.status == "paid"
    assert invoice.customer.past_due_since is None
    assert DunningStep.objects.get(invoice=invoice, step="resolved").details["status"] == "paid"
