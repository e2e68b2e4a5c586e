"""Issue 19 item 4, shown against the loopback Stripe: a declined card walks through the
dunning schedule (past due, reminder, suspension, a failed retry, a retry with a new card)
to paid, and every step is a row with its history."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from accounts.models import ContactRole, Customer
from billingsite.models import OutboxMessage
from billingsite.outbox.services import outbox_dispatch
from invoicing.collections.services import collections_advance_all
from invoicing.models import DunningStep, Invoice, Payment
from tests.factories import ContactFactory
from tests.stripe.sync_support import finalized_invoice
from tests.stripe.test_sync_localstripe import synced_customer
from tests.stripe_support import LOCALSTRIPE_API_KEY, LocalStripe

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

DECLINES = "4000000000000341"  # attaches, every charge declined
VISA = "4242424242424242"


def use_card(localstripe: LocalStripe, customer: Customer, number: str) -> None:
    pm = localstripe.card_payment_method(number)
    auth = (LOCALSTRIPE_API_KEY, "")
    requests.post(
        f"{localstripe.base_url}/v1/payment_methods/{pm}/attach",
        data={"customer": customer.stripe_customer_id},
        auth=auth,
        timeout=5,
    ).raise_for_status()
    requests.post(
        f"{localstripe.base_url}/v1/customers/{customer.stripe_customer_id}",
        data={"invoice_settings[default_payment_method]": pm},
        auth=auth,
        timeout=5,
    ).raise_for_status()


def steps(invoice: Invoice) -> dict[str, str]:
    return dict(DunningStep.objects.filter(invoice=invoice).values_list("step", "outcome"))


def test_a_declined_card_walks_the_dunning_schedule_to_paid(
    localstripe_settings, settings, mailoutbox
):
    settings.COLLECTIONS_RETRY_DAYS = [3, 5, 7]
    settings.COLLECTIONS_REMINDER_DAYS = [-3, 0, 3, 7]
    settings.COLLECTIONS_SUSPEND_AFTER_DAYS = 1
    customer = synced_customer(localstripe_settings, DECLINES)
    ContactFactory(customer=customer, role=ContactRole.BILLING, email="Finance@Initech.test")
    invoice = finalized_invoice(customer)

    # the push charges the card: declined, which starts collections
    outbox_dispatch()
    failed = DunningStep.objects.get(invoice=invoice, step="payment_failed")
    assert Payment.objects.get(invoice=invoice).status == "failed"
    t0 = failed.taken_at

    # a day later (the invoice's due date is long gone): past due, the latest reminder,
    # the customer suspended; no retry yet
    assert collections_advance_all(now=t0 + timedelta(days=1))["steps"] == 3
    invoice.refresh_from_db()
    customer.refresh_from_db()
    assert invoice.status == "past_due"
    assert customer.past_due_since == invoice.due_at
    assert customer.status == "suspended"
    assert steps(invoice) == {
        "payment_failed": "done",
        "reminder:-3": "skipped",
        "reminder:0": "skipped",
        "reminder:3": "skipped",
        "reminder:7": "scheduled",
        "past_due": "done",
        "suspend": "done",
    }
    assert collections_advance_all(now=t0 + timedelta(days=1))["steps"] == 0  # once each
    assert outbox_dispatch().as_dict()["sent"] == 1
    assert [m.to for m in mailoutbox] == [["finance@initech.test", "ap@initech.test"]]
    assert "overdue" in mailoutbox[0].body

    # day 3: the first retry is declined again
    assert collections_advance_all(now=t0 + timedelta(days=3))["steps"] == 1
    outbox_dispatch()
    retry = DunningStep.objects.get(invoice=invoice, step="retry:1")
    assert retry.outcome == "failed" and retry.details["stripe_code"] == "card_declined"
    assert OutboxMessage.objects.get(key=f"invoice:{invoice.pk}:collections:retry:1").state == (
        "sent"
    )

    # the customer adds a working card; day 5: the second retry charges it
    use_card(localstripe_settings, customer, VISA)
    assert collections_advance_all(now=t0 + timedelta(days=5))["steps"] == 1
    outbox_dispatch()
    invoice.refresh_from_db()
    customer.refresh_from_db()
    assert invoice.status == "paid"
    assert steps(invoice)["retry:2"] == "succeeded"
    assert steps(invoice)["resolved"] == "done"
    assert customer.past_due_since is None
    assert customer.status == "active"

    # nothing more happens, and every change is in the history
    assert collections_advance_all(now=t0 + timedelta(days=8))["steps"] == 0
    assert "retry:3" not in steps(invoice)
    assert list(
        invoice.transitions.values_list("to_status", flat=True).order_by("created_at", "pk")
    ) == ["finalized", "past_due", "paid"]
    statuses = list(customer.history.order_by("history_id").values_list("status", flat=True))
    assert statuses[-2:] == ["suspended", "active"]
    assert DunningStep.history.filter(step="retry:1").count() == 2  # scheduled, then failed
