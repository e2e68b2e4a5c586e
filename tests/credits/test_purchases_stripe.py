"""Credit purchases charged on localstripe through the outbox: paid and granted once; a worker
killed between the charge and the grant (the resend reuses the key: one payment intent, one
grant); a declined card (no grant, the rule stops, ``credit_purchase.failed`` is announced)."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest

from accounts.models import Customer
from billingsite.events import register_listener, unregister_listener
from billingsite.outbox.models import OutboxMessage
from billingsite.outbox.services import outbox_dispatch
from invoicing.models import CreditGrant, CreditPurchase
from invoicing.services.credit_topups import credit_top_up_request
from invoicing.stripe import credit_purchases as handler_module
from invoicing.stripe.topics import CREDIT_PURCHASE_TOPIC
from tests.credits.builders import customer_with_credit, invoice_for, rule_for

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal


class WorkerKilled(BaseException):
    """Not an Exception: the outbox does not record it, as when the process dies."""


@pytest.fixture
def heard():
    events: list[tuple[str, str]] = []
    register_listener("test-purchases", lambda t, d, *, key: events.append((t, key)))
    yield events
    unregister_listener("test-purchases")


def on_stripe(customer: Customer, localstripe, gateway, card: str = "4242424242424242") -> None:
    stripe_customer = gateway.customer_create(
        idempotency_key=f"customer:{uuid4().hex}", email="c@x.example", name="C"
    )
    method = localstripe.card_payment_method(card)
    gateway.payment_method_attach(method, stripe_customer.id, idempotency_key=f"pm:{uuid4().hex}")
    gateway.customer_default_payment_method_set(
        stripe_customer.id, method, idempotency_key=f"pmd:{uuid4().hex}"
    )
    Customer.objects.filter(pk=customer.pk).update(stripe_customer_id=stripe_customer.id)


def dispatch() -> None:
    outbox_dispatch(topics=[CREDIT_PURCHASE_TOPIC])


def test_a_top_up_is_charged_then_granted(localstripe, localstripe_settings, localstripe_gateway):
    customer, _ = customer_with_credit("10")
    on_stripe(customer, localstripe, localstripe_gateway)
    purchase = credit_top_up_request(customer=customer, amount="25.00", currency="USD")
    dispatch()
    dispatch()
    purchase.refresh_from_db()
    assert purchase.status == "succeeded" and purchase.grant is not None
    assert (purchase.grant.kind, purchase.grant.amount.amount) == ("paid", D("25.00"))
    intent = localstripe_gateway.payment_intent_retrieve(purchase.stripe_payment_intent_id)
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 2500, "usd")
    assert CreditGrant.objects.filter(customer=customer, kind="paid").count() == 2


def test_a_worker_killed_between_charge_and_grant_charges_once_and_grants_once(
    localstripe, localstripe_settings, localstripe_gateway, monkeypatch
):
    customer, (grant,) = customer_with_credit("100")
    rule = rule_for(customer, threshold="50", amount="100")
    on_stripe(customer, localstripe, localstripe_gateway)
    from invoicing.services.credits import credit_draw

    credit_draw(invoice=invoice_for(customer), draws=[(grant.pk, D("60"))])
    purchase = CreditPurchase.objects.get(rule=rule)
    intents: list[str] = []
    real_settle = handler_module.credit_purchase_settle

    def killed(*, purchase_id: int, payment_intent_id: str) -> None:
        intents.append(payment_intent_id)
        raise WorkerKilled

    monkeypatch.setattr(handler_module, "credit_purchase_settle", killed)
    with pytest.raises(WorkerKilled):
        dispatch()
    row = OutboxMessage.objects.get(key=purchase.idempotency_key)
    assert row.state == "sending"  # claimed, never recorded: the lease will run out
    purchase.refresh_from_db()
    assert purchase.status == "pending" and purchase.grant is None  # charged, not granted

    def recorded(*, purchase_id: int, payment_intent_id: str) -> CreditPurchase:
        intents.append(payment_intent_id)
        return real_settle(purchase_id=purchase_id, payment_intent_id=payment_intent_id)

    monkeypatch.setattr(handler_module, "credit_purchase_settle", recorded)
    OutboxMessage.objects.filter(pk=row.pk).update(lease_expires_at=row.created_at)
    dispatch()
    dispatch()
    row.refresh_from_db()
    purchase.refresh_from_db()
    assert (row.state, row.attempts) == ("sent", 2)
    assert len(intents) == 2 and intents[0] == intents[1]  # same key: Stripe's first answer
    assert purchase.status == "succeeded" and purchase.stripe_payment_intent_id == intents[0]
    assert CreditGrant.objects.filter(purchase__isnull=False, customer=customer).count() == 1
    assert localstripe_gateway.payment_intent_retrieve(intents[0]).amount == 10000


def test_a_declined_recharge_grants_nothing_and_stops_the_rule(
    localstripe, localstripe_settings, localstripe_gateway, heard
):
    customer, (grant,) = customer_with_credit("100")
    rule = rule_for(customer, threshold="50", amount="100")
    on_stripe(customer, localstripe, localstripe_gateway, card="4000000000000341")
    from invoicing.services.credits import credit_draw

    credit_draw(invoice=invoice_for(customer), draws=[(grant.pk, D("60"))])
    dispatch()
    purchase = CreditPurchase.objects.get(rule=rule)
    rule.refresh_from_db()
    assert purchase.status == "failed" and purchase.grant is None
    assert purchase.failure_code
    assert rule.enabled is False and rule.stopped_at is not None
    assert ("credit_purchase.failed", f"credit_purchase.failed:{purchase.pk}") in heard
    assert CreditGrant.objects.filter(customer=customer).count() == 1
    assert OutboxMessage.objects.get(key=purchase.idempotency_key).state == "sent"
