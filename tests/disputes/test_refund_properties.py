"""Invariant 5 as properties: any sequence of requests, rejections and Stripe outcomes keeps
the reserving refunds of a payment within its captured amount; two approvers racing on one
refund approve it once and enqueue it once."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billingsite.errors import AppError, Conflict
from billingsite.outbox.models import OutboxMessage
from disputes.models import Refund
from disputes.services.refund_sync import refund_apply_stripe
from disputes.services.refunds import refund_approve, refund_reject, refund_request
from disputes.states import RESERVING
from tests.disputes.factories import paid_invoice_payment, staff

STEPS = st.lists(
    st.tuples(
        st.sampled_from(["request", "reject", "succeed", "fail"]),
        st.integers(min_value=1, max_value=4000),
    ),
    max_size=12,
)


@pytest.mark.slow  # many Hypothesis examples, each a database round
@pytest.mark.django_db
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=STEPS)
def test_reserved_refunds_never_exceed_captured(steps, refund_case):
    payment, agent, finance = refund_case
    sid = transaction.savepoint()
    try:
        for action, cents in steps:
            amount = Decimal(cents) / 100
            open_ = list(
                Refund.objects.filter(payment=payment, status__in=["requested", "approved"])
            )
            try:
                if action == "request":
                    refund_request(payment=payment, amount=amount, reason="other", actor=agent)
                elif action == "reject" and open_:
                    refund_reject(refund=open_[0], actor=finance, note="no")
                elif open_ and open_[0].status == "approved":
                    refund_apply_stripe(
                        {
                            "id": f"re_p{open_[0].pk}",
                            "status": "succeeded" if action == "succeed" else "failed",
                        },
                        at=None,
                        refund_id=open_[0].pk,
                    )
            except (Conflict, AppError):
                pass
            reserved = (
                Refund.objects.filter(payment=payment, status__in=RESERVING).aggregate(
                    s=Sum("amount")
                )["s"]
                or 0
            )
            assert reserved <= payment.amount_captured.amount
    finally:
        transaction.savepoint_rollback(sid)


@pytest.fixture
def refund_case(db, settings):
    """A paid payment, an agent and an approver; requests above 20.00 wait for approval."""
    settings.REFUND_APPROVAL_THRESHOLD = Decimal("20.00")
    return paid_invoice_payment()[1], staff("support"), staff("finance")


@pytest.mark.django_db(transaction=True)
def test_two_approvers_at_once_approve_once(settings):
    settings.REFUND_APPROVAL_THRESHOLD = Decimal("1.00")
    _, payment = paid_invoice_payment()
    refund = refund_request(
        payment=payment, amount=Decimal("5.00"), reason="other", actor=staff("support")
    )
    approvers = [staff("finance"), staff("finance")]
    barrier = threading.Barrier(2)
    results: list[str] = []

    def approve(user) -> None:
        try:
            barrier.wait()
            refund_approve(refund=Refund.objects.get(pk=refund.pk), actor=user)
            results.append("ok")
        except Conflict as exc:
            results.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(user,)) for user in approvers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["invalid_transition", "ok"]
    assert OutboxMessage.objects.filter(key=f"refund:{refund.pk}").count() == 1
    assert Refund.objects.get(pk=refund.pk).transitions.filter(to_status="approved").count() == 1
