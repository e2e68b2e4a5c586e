"""Signed ``charge.dispute.*`` deliveries: every event type, inquiries, duplicates, any order;
ledger balances after won and lost."""

from __future__ import annotations

import itertools
import json
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection, transaction

from disputes.models import Dispute, LedgerAccount, LedgerEntry
from disputes.services.disputes import dispute_apply_stripe
from disputes.services.ledger import balance
from invoicing.models import StripeWebhookEvent
from invoicing.stripe.inbox import webhook_event_process
from tests.disputes.factories import dispute_obj, paid_invoice_payment
from tests.stripe.sync_support import SECRET, post_event
from tests.stripe_support import fixture_object, stripe_event

pytestmark = pytest.mark.django_db

EVENT_TYPES = [
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
]


@pytest.fixture(autouse=True)
def _secrets(settings):
    settings.STRIPE_WEBHOOK_SECRETS = [SECRET]
    settings.DISPUTE_FEES = {"default": "15.00"}


@pytest.fixture
def payment():
    return paid_invoice_payment()[1]


def deliver(client, payload: bytes) -> StripeWebhookEvent:
    assert post_event(client, payload).status_code == 200
    row = StripeWebhookEvent.objects.get(stripe_id=json.loads(payload)["id"])
    webhook_event_process(event_pk=row.pk)
    row.refresh_from_db()
    return row


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_each_dispute_event_type_creates_the_linked_dispute(client, payment, event_type):
    status = {
        "charge.dispute.closed": "lost",
        "charge.dispute.funds_reinstated": "under_review",
    }.get(event_type, "needs_response")
    obj = dispute_obj(
        payment, status=status, amount_minor=1234, due_by=1893456000, is_charge_refundable=False
    )
    row = deliver(client, stripe_event(event_type, obj))
    assert row.status == "processed"
    dispute = Dispute.objects.get(stripe_id="dp_test1")
    assert (dispute.payment, dispute.invoice, dispute.customer) == (
        payment,
        payment.invoice,
        payment.customer,
    )
    assert (dispute.amount.amount, dispute.currency, dispute.reason, dispute.status) == (
        Decimal("12.34"),
        payment.currency,
        "fraudulent",
        status,
    )
    assert dispute.due_by.timestamp() == 1893456000 and dispute.is_charge_refundable is False
    assert sum(e.amount.amount for e in LedgerEntry.objects.all()) == 0  # every posting balances


def test_inquiry_warning_statuses_flow_and_close_without_money(client, payment):
    now = int(time.time())
    for offset, status in enumerate(
        ["warning_needs_response", "warning_under_review", "warning_closed"]
    ):
        kind = "charge.dispute.closed" if status == "warning_closed" else "charge.dispute.updated"
        deliver(
            client, stripe_event(kind, dispute_obj(payment, status=status), created=now + offset)
        )
        dispute = Dispute.objects.get()
        assert dispute.status == status
    assert dispute.is_inquiry and dispute.closed_at is not None
    assert not LedgerEntry.objects.exists()


def _lifecycle(payment, outcome: str) -> list[bytes]:
    now = int(time.time())
    withdrawn = dispute_obj(payment, status="needs_response", amount_minor=5000)
    steps = [
        (
            "charge.dispute.created",
            dispute_obj(payment, status="needs_response", amount_minor=5000),
        ),
        ("charge.dispute.funds_withdrawn", withdrawn),
        ("charge.dispute.updated", dispute_obj(payment, status="under_review", amount_minor=5000)),
    ]
    if outcome == "won":
        steps.append(
            (
                "charge.dispute.funds_reinstated",
                dispute_obj(payment, status="under_review", amount_minor=5000),
            )
        )
    steps.append(("charge.dispute.closed", dispute_obj(payment, status=outcome, amount_minor=5000)))
    return [stripe_event(kind, obj, created=now + i) for i, (kind, obj) in enumerate(steps)]


def _balances() -> dict[str, Decimal]:
    return {account: balance(account) for account in LedgerAccount.values}


WON = {"cash": 0, "refunds": 0, "disputed_funds": 0, "dispute_writeoff": 0, "dispute_fees": 0}
LOST = {
    "cash": Decimal("-65.00"),
    "refunds": 0,
    "disputed_funds": 0,
    "dispute_writeoff": Decimal("50.00"),
    "dispute_fees": Decimal("15.00"),
}


@pytest.mark.parametrize("outcome,expected", [("won", WON), ("lost", LOST)])
def test_ledger_after_outcome_with_duplicates(client, payment, outcome, expected):
    events = _lifecycle(payment, outcome)
    for payload in events:
        deliver(client, payload)
        deliver(client, payload)  # duplicate delivery: stored once, applied once
    dispute = Dispute.objects.get()
    assert dispute.status == outcome and dispute.funds_withdrawn
    assert _balances() == expected
    assert set(LedgerEntry.objects.values_list("invoice_id", flat=True)) == {payment.invoice_id}


@pytest.mark.parametrize("outcome,expected", [("won", WON), ("lost", LOST)])
def test_every_delivery_order_ends_in_the_newest_state(client, payment, outcome, expected):
    events = _lifecycle(payment, outcome)
    orders = list(itertools.permutations(range(len(events))))[::7]
    for order in orders:
        sid = transaction.savepoint()
        for index in order:
            deliver(client, events[index])
        dispute = Dispute.objects.get()
        assert dispute.status == outcome, order
        assert _balances() == expected, order
        transaction.savepoint_rollback(sid)


def test_dispute_for_an_unknown_charge_is_kept_without_links(client):
    obj = fixture_object("dispute", id="dp_orphan", charge="ch_unknown", status="needs_response")
    deliver(client, stripe_event("charge.dispute.created", obj))
    dispute = Dispute.objects.get(stripe_id="dp_orphan")
    assert dispute.payment is None and dispute.customer is None
    assert dispute.stripe_charge_id == "ch_unknown"


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_deliveries_make_one_dispute_and_one_posting_each():
    """created and closed(lost) for an unknown dispute processed at once on two connections."""
    payment = paid_invoice_payment()[1]
    now = int(time.time())
    work = [
        (
            dispute_obj(payment, dispute_id="dp_race", status="needs_response", amount_minor=5000),
            now,
            "charge.dispute.created",
        ),
        (
            dispute_obj(payment, dispute_id="dp_race", status="lost", amount_minor=5000),
            now + 5,
            "charge.dispute.closed",
        ),
    ]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def apply(obj, created, kind) -> None:
        try:
            barrier.wait()
            dispute_apply_stripe(obj, at=datetime.fromtimestamp(created, tz=UTC), event_type=kind)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=apply, args=item) for item in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Dispute.objects.get(stripe_id="dp_race").status == "lost"
    assert _balances() == LOST


def test_status_changes_from_webhooks_go_through_dispute_transition_into_the_history(
    client, payment
):
    """The webhook path moves a dispute through dispute_transition(), which saves through the
    model: every status Stripe reports is in the audit history, and a closed dispute stays
    closed (DISPUTE_TRANSITIONS)."""
    now = int(time.time())
    steps = [
        ("charge.dispute.created", "needs_response"),
        ("charge.dispute.updated", "under_review"),
    ]
    steps.append(("charge.dispute.closed", "won"))
    for offset, (kind, status) in enumerate(steps):
        deliver(
            client, stripe_event(kind, dispute_obj(payment, status=status), created=now + offset)
        )
    dispute = Dispute.objects.get()
    statuses = list(dispute.history.order_by("history_id").values_list("status", flat=True))
    # the row created by the first event, then one record per applied event
    assert statuses == ["needs_response", "needs_response", "under_review", "won"]
    reopen = dispute_obj(payment, status="under_review")
    deliver(client, stripe_event("charge.dispute.updated", reopen, created=now + 10))
    dispute.refresh_from_db()
    assert dispute.status == "won" and dispute.history.count() == len(statuses)
