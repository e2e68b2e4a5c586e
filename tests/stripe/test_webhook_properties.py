"""Invariant 6 (each Stripe webhook event takes effect once): whatever the delivery order and
however often each event is delivered, the final state equals applying the events once in the
order Stripe created them; concurrent deliveries and processors of one event apply it once."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invoicing.models import (
    Invoice,
    InvoiceTransition,
    Payment,
    StripeInvoice,
    StripeWebhookEvent,
)
from invoicing.stripe.inbox import webhook_event_process
from tests.stripe.sync_support import (
    SECRET,
    finalized_invoice,
    post_event,
    stripe_event,
    stripe_invoice_obj,
)
from tests.stripe_support import fixture_object


def _events(invoice: Invoice, stripe_id: str, intent: str, base: int) -> list[bytes]:
    """The life of one invoice on Stripe, in the order Stripe created the events."""
    total = 3577
    customer = invoice.customer.stripe_customer_id
    pi = {
        "id": intent,
        "customer": customer,
        "amount": total,
        "currency": "usd",
        "metadata": {"tally_invoice_id": str(invoice.pk)},
    }
    failed_pi = fixture_object(
        "payment_intent",
        **pi,
        status="requires_payment_method",
        amount_received=0,
        last_payment_error={"code": "card_declined", "message": "Declined."},
    )
    ok_pi = fixture_object(
        "payment_intent",
        **pi,
        status="succeeded",
        amount_received=total,
        last_payment_error=None,
        latest_charge=f"ch_{intent}",
    )
    steps = [
        ("invoice.finalized", stripe_invoice_obj(invoice, stripe_id, "open", total=total)),
        ("payment_intent.payment_failed", failed_pi),
        ("invoice.payment_failed", stripe_invoice_obj(invoice, stripe_id, "open", total=total)),
        ("payment_intent.succeeded", ok_pi),
        (
            "invoice.paid",
            stripe_invoice_obj(invoice, stripe_id, "paid", total=total, amount_paid=total),
        ),
    ]
    return [
        stripe_event(kind, obj, id=f"evt_{stripe_id}_{n}", created=base + n)
        for n, (kind, obj) in enumerate(steps)
    ]


@pytest.mark.slow  # many Hypothesis examples, each a database round
@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    order=st.permutations(range(5)), repeats=st.lists(st.integers(0, 4), max_size=4), data=st.data()
)
def test_any_order_and_any_repetition_ends_in_the_same_state(order, repeats, data, settings_):
    invoice = settings_["invoice"]
    settings_["n"] += 1
    n = settings_["n"]
    stripe_id, intent = f"in_prop{n}", f"pi_prop{n}"
    Invoice.objects.filter(pk=invoice.pk).update(status="finalized", paid_at=None)
    InvoiceTransition.objects.filter(invoice=invoice, to_status="paid").delete()
    StripeInvoice.objects.filter(invoice=invoice).delete()
    events = _events(invoice, stripe_id, intent, base=int(time.time()) - 100)
    client = Client()
    for index in [*order, *repeats]:
        assert post_event(client, events[index]).status_code == 200
        for row in StripeWebhookEvent.objects.filter(status="received"):
            webhook_event_process(event_pk=row.pk)
    invoice.refresh_from_db()
    mirror = StripeInvoice.objects.get(invoice=invoice)
    payment = Payment.objects.get(stripe_payment_intent_id=intent)
    assert (invoice.status, mirror.status, mirror.amount_paid_minor) == ("paid", "paid", 3577)
    assert InvoiceTransition.objects.filter(invoice=invoice, to_status="paid").count() == 1
    assert (payment.status, payment.failure_message) == ("succeeded", "")
    assert str(payment.amount_captured.amount) == "35.7700" and payment.invoice_id == invoice.pk
    assert StripeWebhookEvent.objects.filter(stripe_id__startswith=f"evt_{stripe_id}_").count() == 5


@pytest.fixture
def settings_(db, settings):
    settings.STRIPE_WEBHOOK_SECRETS = [SECRET]
    invoice = finalized_invoice()
    invoice.customer.stripe_customer_id = "cus_prop"
    invoice.customer.save()
    return {"invoice": invoice, "n": 0}


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_and_processors_apply_an_event_once(settings):
    settings.STRIPE_WEBHOOK_SECRETS = [SECRET]
    invoice = finalized_invoice()
    payload = stripe_event(
        "invoice.paid", stripe_invoice_obj(invoice, "in_race", "paid"), id="evt_race"
    )
    barrier = threading.Barrier(6)
    answers: list[int] = []
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def deliver_and_process() -> None:
        try:
            barrier.wait()
            answers.append(post_event(Client(), payload).status_code)
            row = StripeWebhookEvent.objects.get(stripe_id="evt_race")
            outcomes.append(webhook_event_process(event_pk=row.pk))
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver_and_process) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and answers == [200] * 6
    assert outcomes.count("processed") == 1 and set(outcomes) <= {"processed", "skipped"}
    row = StripeWebhookEvent.objects.get(stripe_id="evt_race")
    assert (row.status, row.attempts) == ("processed", 1)
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert InvoiceTransition.objects.filter(invoice=invoice, to_status="paid").count() == 1
