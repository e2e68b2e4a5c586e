"""The usage pages' top-up form key: concurrent submits of one form (a double click, two tabs
replaying the POST) open one purchase and one outbox charge; the key is scoped to its customer
and validated."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection

from billingsite.errors import AppError
from billingsite.outbox.models import OutboxMessage
from invoicing.models import CreditPurchase
from invoicing.services.credit_topups import credit_top_up_request
from tests.credits.builders import customer_with_credit

D = Decimal
TOPIC = "stripe.credit_purchase.charge"


def _submit_together(customer, key: str, threads: int) -> list[int]:  # type: ignore[no-untyped-def]
    start = threading.Barrier(threads)
    got: list[int] = []
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            start.wait(30)
            purchase = credit_top_up_request(
                customer=customer, amount="25.00", currency="USD", request_key=key
            )
            got.append(purchase.pk)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=submit) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert not errors, errors[:3]
    return got


@pytest.mark.django_db(transaction=True)
def test_concurrent_submits_of_one_form_buy_once():
    customer, _grants = customer_with_credit("10")
    for round_ in range(3):
        got = _submit_together(customer, f"form{round_}", threads=6)
        assert len(got) == 6 and len(set(got)) == 1
    assert CreditPurchase.objects.filter(customer=customer).count() == 3
    assert OutboxMessage.objects.filter(topic=TOPIC).count() == 3


@pytest.mark.django_db
def test_a_form_key_is_scoped_to_its_customer_and_checked():
    acme, _ = customer_with_credit("10")
    globex, _ = customer_with_credit("10")
    first = credit_top_up_request(customer=acme, amount="5", currency="USD", request_key="k")
    other = credit_top_up_request(customer=globex, amount="5", currency="USD", request_key="k")
    assert first.pk != other.pk and first.customer_id == acme.pk
    assert first.idempotency_key == f"credit-top-up:c{acme.pk}:k"
    # a replay answers the first purchase, even with another amount (the form was submitted)
    replay = credit_top_up_request(customer=acme, amount="9", currency="USD", request_key="k")
    assert replay.pk == first.pk and replay.amount.amount == D("5")
    for bad in ("a:b", "x" * 65, "../k"):
        with pytest.raises(AppError):
            credit_top_up_request(customer=acme, amount="5", currency="USD", request_key=bad)
    assert OutboxMessage.objects.filter(topic=TOPIC).count() == 2
