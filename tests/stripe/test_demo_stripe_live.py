"""The demo under bin/tally run talks to the loopback Stripe: after seed_demo and
demo_stripe_sync every seeded customer, invoice and payment exists there, nothing is
dead-lettered, and a refund of a demo payment completes; running it again adds nothing."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from billingsite.outbox.models import OutboxMessage, OutboxState
from billingsite.outbox.services import outbox_dispatch
from disputes.models import Dispute, Refund
from disputes.services.refunds import refund_request
from invoicing.models import Invoice, Payment, StripeInvoice, StripePaymentMethod
from invoicing.stripe.gateway import default_gateway

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _state() -> tuple:
    return (
        StripeInvoice.objects.count(),
        sorted(Payment.objects.values_list("stripe_payment_intent_id", "status")),
        StripePaymentMethod.objects.count(),
        sorted(OutboxMessage.objects.values_list("key", "state")),
    )


def test_demo_stripe_sync_puts_the_demo_on_the_loopback_stripe(localstripe_settings, settings):
    settings.REFUND_APPROVAL_THRESHOLD = Decimal("100000")
    call_command("seed_demo", stdout=io.StringIO())
    assert not StripeInvoice.objects.filter(stripe_id__startswith="in_demo").exists()
    out = io.StringIO()
    call_command("demo_stripe_sync", stdout=out)
    assert "Stripe (loopback)" in out.getvalue()

    assert not OutboxMessage.objects.exclude(state=OutboxState.SENT).exists()
    gateway = default_gateway()
    mirrors = list(StripeInvoice.objects.all())
    assert mirrors and all(not m.stripe_id.startswith("in_demo") for m in mirrors)
    assert gateway.invoice_retrieve(mirrors[0].stripe_id).id == mirrors[0].stripe_id
    succeeded = list(Payment.objects.filter(status="succeeded").select_related("invoice"))
    assert len(succeeded) >= 5
    assert all(p.stripe_payment_intent_id.startswith("pi_") for p in succeeded)
    assert not [p for p in succeeded if p.stripe_payment_intent_id.startswith("pi_demo")]
    assert {p.invoice.status for p in succeeded} == {"paid"}
    assert Invoice.objects.filter(status="paid").count() >= 5
    open_with_total = Invoice.objects.filter(status="finalized", total__gt=0)
    assert set(open_with_total.values_list("pk", flat=True)) == set(
        StripeInvoice.objects.values_list("invoice_id", flat=True)
    )  # every open invoice was sent through Stripe (the demo contracts are send_invoice)
    assert StripePaymentMethod.objects.filter(is_default=True).count() >= 4

    disputed = set(Dispute.objects.values_list("payment_id", flat=True))
    payment = next(p for p in succeeded if p.pk not in disputed)
    refund = refund_request(payment=payment, amount=Decimal("1.00"), reason="duplicate", actor=None)
    outbox_dispatch(topics=["stripe.refund.create"])
    refund.refresh_from_db()
    row = OutboxMessage.objects.get(key=f"refund:{refund.pk}")
    assert (row.state, refund.status) == (OutboxState.SENT, "succeeded")
    assert refund.stripe_refund_id.startswith("re_")
    assert Refund.objects.get(pk=refund.pk).credit_note.total.amount == Decimal("1.00")

    first = _state()
    call_command("seed_demo", stdout=io.StringIO())
    call_command("demo_stripe_sync", stdout=io.StringIO())
    assert _state() == first
