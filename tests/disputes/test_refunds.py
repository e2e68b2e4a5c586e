"""Refund requests: guards, four eyes, every transition, settle from Stripe (credit note and
ledger), and the over-refund race on separate database connections."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection

from billingsite.errors import AppError, Conflict
from billingsite.outbox.models import OutboxMessage
from disputes.models import Dispute, LedgerAccount, Refund
from disputes.services.ledger import balance
from disputes.services.refund_sync import refund_apply_stripe
from disputes.services.refunds import (
    refund_approve,
    refund_cancel,
    refund_reject,
    refund_request,
    refund_transition,
)
from disputes.states import REFUND_TRANSITIONS, RefundStatus
from invoicing.models import Invoice, Payment
from invoicing.states import InvoiceStatus
from tests.disputes.factories import paid_invoice_payment, staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid():
    return paid_invoice_payment()


@pytest.fixture
def agent():
    return staff("support")


@pytest.fixture
def finance():
    return staff("finance")


def test_small_refund_is_approved_at_once_and_queued_with_its_key(paid, agent, settings):
    settings.REFUND_APPROVAL_THRESHOLD = Decimal("100")
    invoice, payment = paid
    refund = refund_request(
        payment=payment,
        amount=Decimal("5.00"),
        reason="service_issue",
        reason_text="outage",
        internal_note="ticket 9",
        actor=agent,
    )
    assert refund.status == RefundStatus.APPROVED and not refund.needs_approval
    assert refund.invoice == invoice and refund.currency == payment.currency
    row = OutboxMessage.objects.get(key=f"refund:{refund.pk}")
    assert row.topic == "stripe.refund.create" and row.payload == {"refund_id": refund.pk}
    assert [(t.from_status, t.to_status) for t in refund.transitions.all()] == [
        ("", "requested"),
        ("requested", "approved"),
    ]


def test_large_refund_waits_for_a_finance_approver_who_is_not_the_requester(
    paid, finance, settings
):
    settings.REFUND_APPROVAL_THRESHOLD = Decimal("1")
    _, payment = paid
    refund = refund_request(
        payment=payment, amount=Decimal("5.00"), reason="billing_error", actor=finance
    )
    assert refund.status == RefundStatus.REQUESTED and refund.needs_approval
    assert not OutboxMessage.objects.filter(key=f"refund:{refund.pk}").exists()
    with pytest.raises(Conflict) as same:
        refund_approve(refund=refund, actor=finance)
    assert same.value.code == "four_eyes"
    with pytest.raises(AppError) as support:
        refund_approve(refund=refund, actor=staff("support"))
    assert support.value.code == "permission_denied"
    approver = staff("finance")
    refund = refund_approve(refund=refund, actor=approver)
    assert (refund.status, refund.approved_by) == (RefundStatus.APPROVED, approver)
    assert OutboxMessage.objects.filter(key=f"refund:{refund.pk}").count() == 1


def test_reject_and_cancel(paid, agent, finance, settings):
    settings.REFUND_APPROVAL_THRESHOLD = Decimal("1")
    _, payment = paid
    one = refund_request(payment=payment, amount=Decimal("2.00"), reason="other", actor=agent)
    with pytest.raises(AppError):
        refund_reject(refund=one, actor=finance, note=" ")
    assert refund_reject(refund=one, actor=finance, note="not our fault").status == "rejected"
    two = refund_request(payment=payment, amount=Decimal("2.00"), reason="other", actor=agent)
    assert refund_cancel(refund=two, actor=agent).status == "canceled"
    with pytest.raises(Conflict):
        refund_approve(refund=two, actor=finance)


def test_every_transition_follows_the_map(paid, agent):
    """All 64 (from, to) pairs: allowed ones move and leave an audit row; others change nothing."""
    _, payment = paid
    for source in RefundStatus.values:
        for target in RefundStatus.values:
            refund = Refund.objects.create(
                payment=payment,
                customer=payment.customer,
                amount=1,
                currency=payment.currency,
                reason="other",
                status=source,
            )
            if target in REFUND_TRANSITIONS[source]:
                moved = refund_transition(refund=refund, to=target, actor=agent)
                assert moved.status == target
                assert moved.transitions.get().from_status == source
            else:
                with pytest.raises(Conflict):
                    refund_transition(refund=refund, to=target, actor=agent)
                refund.refresh_from_db()
                assert refund.status == source and not refund.transitions.exists()
    assert REFUND_TRANSITIONS["requested"] == {"approved", "rejected", "canceled"}
    assert not REFUND_TRANSITIONS["succeeded"] and not REFUND_TRANSITIONS["rejected"]


def test_over_refund_refused_and_full_refund_takes_what_is_left(paid, agent, settings):
    settings.REFUND_APPROVAL_THRESHOLD = Decimal("100000")
    _, payment = paid
    refund_request(payment=payment, amount=Decimal("10.00"), reason="other", actor=agent)
    with pytest.raises(Conflict) as exc:
        refund_request(payment=payment, amount=payment.amount_captured, reason="other", actor=agent)
    assert exc.value.code == "over_refund"
    rest = refund_request(payment=payment, reason="other", actor=agent)
    assert rest.amount.amount == payment.amount_captured.amount - Decimal("10.00")


def test_rejected_and_canceled_refunds_free_the_amount(paid, agent, finance, settings):
    settings.REFUND_APPROVAL_THRESHOLD = Decimal("0.50")
    _, payment = paid
    big = refund_request(payment=payment, reason="other", actor=agent)
    refund_reject(refund=big, actor=finance, note="no")
    again = refund_request(payment=payment, reason="other", actor=agent)
    assert again.amount.amount == payment.amount_captured.amount


def test_open_dispute_blocks_a_refund_with_a_clear_message(paid, agent):
    _, payment = paid
    Dispute.objects.create(
        stripe_id="dp_block",
        payment=payment,
        customer=payment.customer,
        amount=1,
        currency=payment.currency,
        status="needs_response",
    )
    with pytest.raises(Conflict) as exc:
        refund_request(payment=payment, amount=Decimal("1.00"), reason="other", actor=agent)
    assert exc.value.code == "charge_disputed" and "dp_block" in exc.value.message
    Dispute.objects.filter(stripe_id="dp_block").update(status="lost")
    with pytest.raises(Conflict) as lost:
        refund_request(payment=payment, amount=Decimal("1.00"), reason="other", actor=agent)
    assert lost.value.code == "charge_charged_back"
    Dispute.objects.filter(stripe_id="dp_block").update(status="won")
    assert refund_request(payment=payment, amount=Decimal("1.00"), reason="other", actor=agent).pk


def test_void_and_unpaid_invoices_are_refused_with_a_reason(paid, agent):
    invoice, payment = paid
    Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.FINALIZED)
    with pytest.raises(Conflict) as unpaid:
        refund_request(payment=payment, amount=Decimal("1.00"), reason="other", actor=agent)
    assert unpaid.value.code == "invoice_unpaid"
    Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.VOID)
    with pytest.raises(Conflict) as void:
        refund_request(payment=payment, amount=Decimal("1.00"), reason="other", actor=agent)
    assert void.value.code == "invoice_void"


def test_succeeded_refund_issues_a_credit_note_and_ledger_once(paid, agent):
    invoice, payment = paid
    refund = refund_request(payment=payment, amount=Decimal("7.00"), reason="other", actor=agent)
    obj = {
        "id": "re_1",
        "object": "refund",
        "status": "succeeded",
        "amount": 700,
        "metadata": {"tally_refund_id": str(refund.pk)},
    }
    refund_apply_stripe(obj, at=None)
    refund_apply_stripe(obj, at=None)  # a webhook repeating the answer changes nothing
    refund.refresh_from_db()
    assert refund.status == "succeeded" and refund.stripe_refund_id == "re_1"
    note = refund.credit_note
    assert note.total.amount == Decimal("7.00")
    assert note.invoice == invoice and note.outcome == "refund"
    assert balance(LedgerAccount.REFUNDS) == Decimal("7.00")
    assert balance(LedgerAccount.CASH) == Decimal("-7.00")


def test_refund_by_invoice_line_credits_that_line(paid, agent):
    invoice, payment = paid
    line = invoice.lines.filter(amount__gt=0).order_by("-amount").first()
    refund = refund_request(
        payment=payment, lines={line.pk: Decimal("1.00")}, reason="other", actor=agent
    )
    assert refund.amount.amount == Decimal("1.00")
    refund_apply_stripe(
        {"id": "re_line", "status": "succeeded", "metadata": {"tally_refund_id": str(refund.pk)}},
        at=None,
    )
    refund.refresh_from_db()
    assert [(cl.invoice_line_id, cl.amount.amount) for cl in refund.credit_note.lines.all()] == [
        (line.pk, Decimal("1.00"))
    ]


def test_failed_refund_frees_the_amount_and_posts_nothing(paid, agent):
    _, payment = paid
    refund = refund_request(payment=payment, reason="other", actor=agent)
    refund_apply_stripe(
        {
            "id": "re_f",
            "status": "failed",
            "failure_reason": "lost_or_stolen_card",
            "metadata": {"tally_refund_id": str(refund.pk)},
        },
        at=None,
    )
    refund.refresh_from_db()
    assert (refund.status, refund.failure_reason) == ("failed", "lost_or_stolen_card")
    assert balance(LedgerAccount.CASH) == 0 and refund.credit_note is None
    assert (
        refund_request(payment=payment, reason="other", actor=agent).amount.amount
        == payment.amount_captured.amount
    )


@pytest.mark.django_db(transaction=True)
def test_two_agents_at_once_cannot_over_refund():
    """Two requests of 60% each on separate connections: exactly one passes the lock."""
    _, payment = paid_invoice_payment()
    agents = [staff("support"), staff("support")]
    share = (payment.amount_captured.amount * Decimal("0.6")).quantize(Decimal("0.01"))
    barrier = threading.Barrier(2)
    results: list[str] = []

    def request(user) -> None:
        try:
            barrier.wait()
            refund_request(
                payment=Payment.objects.get(pk=payment.pk), amount=share, reason="other", actor=user
            )
            results.append("ok")
        except Conflict as exc:
            results.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=request, args=(user,)) for user in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["ok", "over_refund"]
    assert Refund.objects.filter(payment=payment).count() == 1
