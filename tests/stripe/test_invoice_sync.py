"""Invoice push through the outbox, verified request by request on the recording client: keys
derived from our rows, one item per line with the exact total (sub-cent prices), retries that
create one invoice, a worker dying after Stripe answered, declines, send_invoice, polling."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billingsite.models import OutboxMessage, OutboxState
from billingsite.money import to_minor_units
from billingsite.outbox.services import lease_seconds, outbox_claim, outbox_dispatch, outbox_send
from invoicing.models import Payment, StripeInvoice
from invoicing.stripe.invoice_push import stripe_invoices_poll
from tests.stripe.sync_support import finalized_invoice, link
from tests.stripe_support import fixture_object

pytestmark = pytest.mark.django_db

INVOICES = "/v1/invoices"


def _dispatch_until_settled(times: int = 6) -> list[dict[str, int]]:
    """Run the dispatcher like beat would, making failed rows due at once between runs."""
    results = []
    for _ in range(times):
        OutboxMessage.objects.filter(state=OutboxState.FAILED).update(
            next_attempt_at=timezone.now()
        )
        results.append(outbox_dispatch().as_dict())
        if not OutboxMessage.objects.filter(state__in=["pending", "failed"]).exists():
            break
    return results


def _push_row(invoice) -> OutboxMessage:
    return OutboxMessage.objects.get(key=f"invoice:{invoice.pk}:finalize")


def test_finalize_writes_the_push_row_in_the_same_transaction():
    invoice = finalized_invoice()
    row = _push_row(invoice)
    assert (row.topic, row.state, row.payload) == (
        "stripe.invoice.finalize",
        "pending",
        {"invoice_id": invoice.pk},
    )


def test_push_sends_exact_requests_with_keys_and_the_exact_total(
    recording_default_gateway, recording_client
):
    invoice = finalized_invoice(calls_per_day=1237)
    customer = invoice.customer
    assert _dispatch_until_settled()[0]["sent"] == 1
    customer.refresh_from_db()
    [create_customer] = recording_client.requests_to("POST", "/v1/customers")
    assert create_customer.idempotency_key == f"customer:{customer.pk}:create"
    assert create_customer.form == {
        "metadata[tally_customer_id]": str(customer.pk),
        "metadata[tally_external_id]": customer.external_id,
    }
    assert customer.stripe_customer_id == recording_client.answers[0]["id"]

    [create] = recording_client.requests_to("POST", INVOICES)
    key = f"invoice:{invoice.pk}:finalize"
    assert create.idempotency_key == key
    assert create.stripe_version == "2026-10-28.endive"
    assert create.form == {
        "customer": customer.stripe_customer_id,
        "currency": "usd",
        "collection_method": "charge_automatically",
        "auto_advance": "false",
        "pending_invoice_items_behavior": "exclude",
        "description": f"Invoice {invoice.number}",
        "metadata[tally_invoice_id]": str(invoice.pk),
        "metadata[tally_invoice_number]": invoice.number,
    }
    items = recording_client.requests_to("POST", "/v1/invoiceitems")
    lines = list(invoice.lines.order_by("position"))
    assert [r.idempotency_key for r in items] == [f"{key}:line:{ln.position}" for ln in lines]
    by_desc = {r.form["description"]: r.form for r in items}
    calls = by_desc["API calls"]
    assert (calls["unit_amount_decimal"], calls["quantity"]) == ("0.04", str(1237 * 31))
    assert "amount" not in calls  # the customer sees the sub-cent unit price on Stripe
    stripe_total = sum(
        int(f["amount"])
        if "amount" in f
        else int(
            (Decimal(f["unit_amount_decimal"]) * int(f["quantity"])).quantize(
                Decimal(1), rounding="ROUND_HALF_UP"
            )
        )
        for f in by_desc.values()
    )
    # 19.99 flat + 38,347 calls at 0.0004 (15.3388) + 93 GB tiered (0.43675), each rounded
    assert stripe_total == to_minor_units(invoice.total.amount, "USD") == 1999 + 1534 + 44
    assert by_desc["Platform fee"]["amount"] == "1999"
    assert {f["currency"] for f in by_desc.values()} == {"usd"}
    stripe_id = recording_client.answers[1]["id"]
    assert {f["invoice"] for f in by_desc.values()} == {stripe_id}
    [finalize] = recording_client.requests_to("POST", f"{INVOICES}/{stripe_id}/finalize")
    [pay] = recording_client.requests_to("POST", f"{INVOICES}/{stripe_id}/pay")
    assert (finalize.idempotency_key, pay.idempotency_key) == (f"{key}:finalize", f"{key}:pay")
    assert StripeInvoice.objects.get(invoice=invoice).stripe_id == stripe_id
    assert _push_row(invoice).result["collection"] == "charged"


def test_stripe_failing_twice_then_succeeding_creates_one_invoice(
    recording_default_gateway, recording_client
):
    invoice = finalized_invoice()
    recording_client.fail("POST", INVOICES, times=2, kind="server_error")
    results = _dispatch_until_settled()
    creates = recording_client.requests_to("POST", INVOICES)
    executed = [r for r in recording_client.executed if r.path == INVOICES]
    assert len(creates) == 3 and len(executed) == 1
    assert {r.idempotency_key for r in creates} == {f"invoice:{invoice.pk}:finalize"}
    row = _push_row(invoice)
    assert (row.state, row.attempts) == ("sent", 3)
    assert [r["retry"] for r in results[:2]] == [1, 1]
    assert StripeInvoice.objects.filter(invoice=invoice).count() == 1


def test_timeout_after_stripe_answered_reuses_the_key_and_creates_nothing_new(
    recording_default_gateway, recording_client
):
    invoice = finalized_invoice()
    recording_client.fail("POST", INVOICES, times=1, kind="timeout_after_success")
    _dispatch_until_settled()
    executed = [r for r in recording_client.executed if r.path == INVOICES]
    replies = [
        a
        for a, r in zip(recording_client.answers, recording_client.executed, strict=True)
        if r.path == INVOICES
    ]
    assert len(executed) == 1 and len(recording_client.requests_to("POST", INVOICES)) == 2
    assert StripeInvoice.objects.get(invoice=invoice).stripe_id == replies[0]["id"]
    assert _push_row(invoice).state == "sent"


def test_worker_killed_after_stripe_answered_before_recording_creates_one_invoice(
    recording_default_gateway, recording_client, monkeypatch
):
    import invoicing.stripe.invoice_push as module

    invoice = finalized_invoice()
    _dispatch_until_settled()  # customer sync + push; reset and replay the push only
    OutboxMessage.objects.filter(key=f"invoice:{invoice.pk}:finalize").update(
        state="pending", next_attempt_at=timezone.now()
    )
    StripeInvoice.objects.filter(invoice=invoice).delete()
    real_link_record = module._link_record

    def die(*args, **kwargs):
        raise KeyboardInterrupt("worker killed")  # not an Exception: nothing is recorded

    monkeypatch.setattr(module, "_link_record", die)
    now = timezone.now()
    [(row_id, attempt)] = outbox_claim(now=now)
    with pytest.raises(KeyboardInterrupt):
        outbox_send(row_id, attempt)
    assert OutboxMessage.objects.get(pk=row_id).state == "sending"  # leased to the dead worker
    monkeypatch.setattr(module, "_link_record", real_link_record)
    assert outbox_claim(now=now + timedelta(seconds=10)) == []
    [(same, next_attempt)] = outbox_claim(now=now + timedelta(seconds=lease_seconds() + 1))
    assert outbox_send(same, next_attempt).outcome == "sent"
    executed = [r for r in recording_client.executed if r.path == INVOICES]
    assert len(executed) == 1  # every resend of the create was a replay of the first answer
    assert (
        StripeInvoice.objects.get(invoice=invoice).stripe_id
        == recording_client.answers[recording_client.executed.index(executed[0])]["id"]
    )


def test_declined_card_is_an_outcome_with_stripes_reason(
    recording_default_gateway, recording_client
):
    invoice = finalized_invoice()
    recording_client.fail("POST", f"{INVOICES}/{{id}}/pay", kind="card_declined")

    def invoice_with_intent(request, params):
        return 200, fixture_object(
            "invoice",
            id=params["id"],
            status="open",
            payment_intent="pi_declined_rec",
            metadata={"tally_invoice_id": str(invoice.pk)},
        )

    def failed_intent(request, params):
        customer = invoice.customer.__class__.objects.get(pk=invoice.customer_id)
        return 200, fixture_object(
            "payment_intent",
            id=params["id"],
            customer=customer.stripe_customer_id,
            amount=to_minor_units(invoice.total.amount, "USD"),
            status="requires_payment_method",
            last_payment_error={
                "code": "card_declined",
                "decline_code": "insufficient_funds",
                "message": "Your card has insufficient funds.",
            },
        )

    recording_client.on("GET", f"{INVOICES}/{{id}}", invoice_with_intent)
    recording_client.on("GET", "/v1/payment_intents/{id}", failed_intent)
    _dispatch_until_settled()
    row = _push_row(invoice)
    assert row.state == "sent"
    assert row.result["collection"] == "declined"
    assert row.result["decline_code"] == "insufficient_funds"
    payment = Payment.objects.get(stripe_payment_intent_id="pi_declined_rec")
    assert (payment.status, payment.invoice_id) == ("failed", invoice.pk)
    assert payment.failure_message == "Your card has insufficient funds."
    invoice.refresh_from_db()
    assert invoice.status == "finalized"


def test_send_invoice_contract_sends_instead_of_charging(
    recording_default_gateway, recording_client
):
    invoice = finalized_invoice(collection_method="send_invoice")
    recording_client.on(
        "POST",
        f"{INVOICES}/{{id}}/finalize",
        lambda request, params: (
            200,
            fixture_object(
                "invoice", id=params["id"], status="open", collection_method="send_invoice"
            ),
        ),
    )
    _dispatch_until_settled()
    [create] = recording_client.requests_to("POST", INVOICES)
    assert create.form["collection_method"] == "send_invoice"
    assert create.form["days_until_due"] == "30"
    [send] = recording_client.requests_to("POST", f"{INVOICES}/{{id}}/send")
    assert send.idempotency_key == f"invoice:{invoice.pk}:finalize:send"
    assert recording_client.requests_to("POST", f"{INVOICES}/{{id}}/pay") == []
    assert _push_row(invoice).result["collection"] == "sent"


def test_zero_total_invoice_is_not_pushed(recording_default_gateway, recording_client):
    from invoicing.services.billing import billing_run
    from tests.invoicing.factories import make_contract, make_version
    from tests.stripe.sync_support import at, per_day

    version = make_version(
        [
            {
                "key": "api_calls",
                "name": "API calls",
                "kind": "usage",
                "meter_key": "api_calls",
                "price": {"model": "per_unit", "unit_amount": "0.01"},
            }
        ],
        key="free",
    )
    contract = make_contract(version=version, collection_method="charge_automatically")
    billing_run(now=at(2026, 2, 3), contract_ids=[contract.pk], usage=per_day(api_calls=0))
    invoice = contract.invoices.get()
    OutboxMessage.objects.exclude(key=f"invoice:{invoice.pk}:finalize").delete()
    _dispatch_until_settled()
    assert _push_row(invoice).result == {"skipped": "nothing to collect", "total": 0}
    assert recording_client.requests == []


def test_poll_applies_a_paid_invoice_whose_webhook_is_late(
    recording_default_gateway, recording_client
):
    invoice = finalized_invoice()
    OutboxMessage.objects.all().delete()
    link(invoice, "in_late_webhook")
    recording_client.on(
        "GET",
        f"{INVOICES}/in_late_webhook",
        fixture_object(
            "invoice",
            id="in_late_webhook",
            status="paid",
            amount_paid=3567,
            metadata={"tally_invoice_id": str(invoice.pk)},
        ),
    )
    assert stripe_invoices_poll(now=timezone.now()) == {"polled": 1, "failed": 0}
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert stripe_invoices_poll(now=timezone.now()) == {"polled": 0, "failed": 0}


def test_voiding_a_pushed_invoice_voids_it_on_stripe(recording_default_gateway, recording_client):
    from invoicing.services.invoices import invoice_void

    invoice = finalized_invoice()
    _dispatch_until_settled()
    stripe_id = StripeInvoice.objects.get(invoice=invoice).stripe_id
    invoice_void(invoice=invoice, reason="Wrong customer", now=timezone.now())
    assert _dispatch_until_settled()[0]["sent"] == 1
    [void] = recording_client.requests_to("POST", f"{INVOICES}/{stripe_id}/void")
    assert void.idempotency_key == f"invoice:{invoice.pk}:void"
    assert StripeInvoice.objects.get(invoice=invoice).status == "void"


def test_void_before_the_push_finished_waits_then_nothing_reaches_stripe(
    recording_default_gateway, recording_client
):
    from invoicing.services.invoices import invoice_void

    invoice = finalized_invoice()
    OutboxMessage.objects.filter(key=f"invoice:{invoice.pk}:finalize").update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)
    )  # the push is backing off
    invoice_void(invoice=invoice, reason="Duplicate", now=timezone.now())
    assert outbox_dispatch().as_dict()["retry"] == 1  # the void waits for the push
    OutboxMessage.objects.update(next_attempt_at=timezone.now())
    _dispatch_until_settled()
    rows = {row.topic: row for row in OutboxMessage.objects.all()}
    assert rows["stripe.invoice.finalize"].result == {
        "skipped": "voided in Tally before it reached Stripe"
    }
    assert rows["stripe.invoice.void"].result == {"skipped": "never on Stripe"}
    assert recording_client.requests == []


def test_the_gateway_refuses_to_call_stripe_inside_a_transaction(
    recording_gateway, recording_client
):
    from django.db import transaction

    from billingsite.outbox.guard import InsideTransactionError

    with pytest.raises(InsideTransactionError), transaction.atomic():
        recording_gateway.customer_create(idempotency_key="customer:1:create", email="a@b.test")
    assert recording_client.requests == []
    recording_gateway.customer_retrieve("cus_outside")  # pytest's own wrapper does not count
    assert len(recording_client.requests) == 1
