"""Auto-recharge rules: one purchase per crossing of the threshold, none while one is in flight,
the monthly cap, a grant only when the payment succeeded, and a stop on a failed payment."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from billingsite.events import register_listener, unregister_listener
from billingsite.outbox.models import OutboxMessage
from invoicing.invariants import credit_purchases_granted
from invoicing.models import CreditEntry, CreditPurchase, GrantKind
from invoicing.services.credit_purchase_settle import credit_purchase_fail, credit_purchase_settle
from invoicing.services.credit_topups import credit_top_up_request, customer_credit_balance
from invoicing.services.credits import credit_draw, credit_grant_void
from tests.credits.builders import customer_with_credit, invoice_for, rule_for

D = Decimal


@pytest.fixture
def heard():
    events: list[tuple[str, str]] = []
    register_listener("test-credits", lambda t, d, *, key: events.append((t, key)))
    yield events
    unregister_listener("test-credits")


def draw(customer, grant, amount: str) -> list[CreditEntry]:
    return credit_draw(invoice=invoice_for(customer), draws=[(grant.pk, D(amount))])


def balance(customer) -> Decimal:
    from django.utils import timezone

    return customer_credit_balance(customer.pk, "USD", at=timezone.now())


@pytest.mark.django_db
def test_one_purchase_per_crossing_keyed_by_rule_and_balance_event():
    customer, (grant,) = customer_with_credit("100")
    rule = rule_for(customer, threshold="50", amount="100")
    draw(customer, grant, "30")
    assert CreditPurchase.objects.count() == 0  # 70 left: above the threshold
    (crossing,) = draw(customer, grant, "30")
    (purchase,) = CreditPurchase.objects.all()
    key = f"credit-recharge:{rule.pk}:{crossing.pk}"
    assert (purchase.idempotency_key, purchase.status, purchase.amount.amount) == (
        key,
        "pending",
        D("100"),
    )
    assert purchase.trigger_entry_id == crossing.pk and purchase.grant is None
    row = OutboxMessage.objects.get(key=key)
    assert row.topic == "stripe.credit_purchase.charge"
    assert row.payload == {"purchase_id": purchase.pk}
    draw(customer, grant, "10")  # still below, but this crossing is being bought
    assert CreditPurchase.objects.count() == 1
    assert balance(customer) == D("30")


@pytest.mark.django_db
def test_the_grant_is_made_once_when_the_payment_succeeded(heard):
    customer, (grant,) = customer_with_credit("100")
    rule_for(customer, threshold="50", amount="100")
    draw(customer, grant, "60")
    purchase = CreditPurchase.objects.get()
    assert balance(customer) == D("40")  # nothing granted before the payment
    settled = credit_purchase_settle(purchase_id=purchase.pk, payment_intent_id="pi_1")
    again = credit_purchase_settle(purchase_id=purchase.pk, payment_intent_id="pi_1")
    assert settled.status == again.status == "succeeded"
    assert again.grant_id == settled.grant_id and settled.grant is not None
    assert settled.grant.kind == GrantKind.PAID and settled.grant.amount.amount == D("100")
    assert balance(customer) == D("140")
    assert [t for t, _ in heard].count("credit_purchase.succeeded") == 1
    assert list(credit_purchases_granted()) == []
    # the next crossing buys again
    draw(customer, grant, "40")  # grant 1 is empty now: 100 left on the new grant
    assert CreditPurchase.objects.count() == 1
    draw(customer, settled.grant, "60")
    assert CreditPurchase.objects.filter(status="pending").count() == 1


@pytest.mark.django_db
def test_a_failed_payment_grants_nothing_stops_the_rule_and_announces(heard):
    customer, (grant,) = customer_with_credit("100")
    rule = rule_for(customer)
    draw(customer, grant, "60")
    purchase = CreditPurchase.objects.get()
    credit_purchase_fail(purchase_id=purchase.pk, code="card_declined", message="Declined")
    credit_purchase_fail(purchase_id=purchase.pk, code="card_declined", message="Declined")
    purchase.refresh_from_db()
    rule.refresh_from_db()
    assert (purchase.status, purchase.grant_id, purchase.failure_code) == (
        "failed",
        None,
        "card_declined",
    )
    assert rule.enabled is False and "card_declined" in rule.stopped_reason
    purchase_events = [(t, k) for t, k in heard if t.startswith("credit_purchase")]
    assert purchase_events == [("credit_purchase.failed", f"credit_purchase.failed:{purchase.pk}")]
    draw(customer, grant, "10")
    assert CreditPurchase.objects.count() == 1  # stopped: no more purchases
    assert balance(customer) == D("30")
    rule_for(customer)  # Finance enables it again
    draw(customer, grant, "10")
    assert CreditPurchase.objects.filter(status="pending").count() == 1


@pytest.mark.django_db
def test_at_most_n_recharges_per_month():
    customer, (grant,) = customer_with_credit("1000")
    rule_for(customer, threshold="900", amount="10", max_per_month=2)
    for _ in range(4):
        draw(customer, grant, "100")
        for purchase in CreditPurchase.objects.filter(status="pending"):
            credit_purchase_settle(purchase_id=purchase.pk, payment_intent_id=f"pi_{purchase.pk}")
    assert CreditPurchase.objects.count() == 2


@pytest.mark.django_db
def test_void_and_top_up_requests():
    customer, (grant,) = customer_with_credit("100")
    rule = rule_for(customer)
    entry = credit_grant_void(grant=grant, reason="test")
    purchase = CreditPurchase.objects.get(rule=rule)
    assert purchase.trigger_entry_id == entry.pk
    top_up = credit_top_up_request(customer=customer, amount="25.00", currency="usd")
    assert top_up.idempotency_key == f"credit-purchase:{top_up.pk}"
    assert OutboxMessage.objects.filter(key=top_up.idempotency_key).exists()
    with pytest.raises(Exception, match="2 decimal places"):
        credit_top_up_request(customer=customer, amount="25.001", currency="USD")


@pytest.mark.django_db
def test_the_database_refuses_a_second_pending_recharge_of_a_rule():
    customer, (grant,) = customer_with_credit("100")
    rule = rule_for(customer)
    draw(customer, grant, "60")
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditPurchase.objects.create(
            customer=customer,
            source="auto_recharge",
            rule=rule,
            currency="USD",
            amount=D("100"),
            idempotency_key="another",
        )


def _race_round(threads: int) -> None:
    customer, grants = customer_with_credit(*["20"] * threads)
    rule_for(customer, threshold="50", amount="100")
    invoices = [invoice_for(customer) for _ in grants]
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def consume(index: int) -> None:
        try:
            start.wait(30)
            credit_draw(invoice=invoices[index], draws=[(grants[index].pk, D("20"))])
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=consume, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert not errors, errors[:3]
    assert balance(customer) == D("0")
    assert CreditPurchase.objects.filter(customer=customer).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_draws_on_different_grants_crossing_the_threshold_buy_once():
    for _ in range(3):
        _race_round(6)


@pytest.mark.django_db
def test_the_invariant_finds_a_purchase_whose_grant_does_not_match():
    customer, (grant,) = customer_with_credit("100")
    purchase = credit_top_up_request(customer=customer, amount="25.00", currency="USD")
    credit_purchase_settle(purchase_id=purchase.pk, payment_intent_id="pi_x")
    assert list(credit_purchases_granted()) == []
    CreditPurchase.objects.filter(pk=purchase.pk).update(grant=grant)  # 100.00, not 25.00
    (found,) = credit_purchases_granted()
    assert found.subject == f"credit purchase #{purchase.pk}"
