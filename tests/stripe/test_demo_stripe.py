"""The demo's Stripe state: pushed invoices (outbox rows sent), card on file, two invoices paid
through the webhook code, a declined payment with Stripe's reason; re-running adds nothing."""

from __future__ import annotations

import io

import pytest

from accounts import demo as accounts_demo
from billingsite.models import OutboxMessage
from invoicing import demo
from invoicing.models import Invoice, Payment, StripeInvoice, StripePaymentMethod

pytestmark = pytest.mark.django_db


def _state() -> tuple:
    return (
        StripeInvoice.objects.count(),
        Payment.objects.count(),
        StripePaymentMethod.objects.count(),
        Invoice.objects.filter(status="paid").count(),
        sorted(OutboxMessage.objects.values_list("key", "state")),
    )


def test_demo_stripe_state_is_complete_and_idempotent():
    accounts_demo.seed(io.StringIO())
    out = io.StringIO()
    demo.seed(out)
    assert "Stripe mirror" in out.getvalue()
    first = _state()
    issued = Invoice.objects.exclude(status__in=["draft", "void"]).filter(total__gt=0)
    assert first[0] == issued.count() > 0
    assert set(
        OutboxMessage.objects.filter(key__startswith="invoice:").values_list("state", flat=True)
    ) == {"sent"}
    assert first[3] == 2
    declined = Payment.objects.get(status="failed")
    assert declined.failure_message == "Your card has insufficient funds."
    assert declined.invoice.status == "finalized"
    paid = Payment.objects.filter(status="succeeded")
    assert {p.invoice.status for p in paid} == {"paid"} and paid.count() == 2
    demo.seed(io.StringIO())
    assert _state() == first
