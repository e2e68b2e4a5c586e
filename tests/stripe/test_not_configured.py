"""Without STRIPE_API_KEY nothing is dead-lettered just for that: the outbox holds Stripe rows
(pending, no attempt used up) and sends them once a key is set; the refund and invoice pages
say plainly that Stripe is not configured."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from billingsite.outbox.models import OutboxMessage, OutboxState
from billingsite.outbox.services import outbox_dispatch
from disputes.models import Refund
from disputes.services.refunds import refund_request
from tests.disputes.factories import paid_invoice_payment, staff
from tests.stripe.sync_support import finalized_invoice

pytestmark = pytest.mark.django_db

NOTICE = "Stripe is not configured: this {} will be sent when STRIPE_API_KEY is set."


@pytest.fixture
def no_stripe(settings):
    settings.STRIPE_API_KEY = ""  # after _stripe_never_real: a deployment without Stripe
    settings.REFUND_APPROVAL_THRESHOLD = Decimal("100000")
    settings.OUTBOX_MAX_ATTEMPTS = 3
    return settings


def _make_due(row: OutboxMessage) -> None:
    OutboxMessage.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())


def test_a_refund_waits_for_stripe_instead_of_dying_then_is_sent_once_configured(
    no_stripe, recording_client, recording_gateway, monkeypatch
):
    _, payment = paid_invoice_payment()
    refund = refund_request(
        payment=payment, amount=Decimal("2.00"), reason="duplicate", actor=staff("support")
    )
    row = OutboxMessage.objects.get(key=f"refund:{refund.pk}")
    for _ in range(5):  # more tries than OUTBOX_MAX_ATTEMPTS: holding never uses them up
        _make_due(row)
        result = outbox_dispatch(topics=[row.topic])
        assert result.count("held") == 1 and result.count("dead") == 0
    row.refresh_from_db()
    assert (row.state, row.attempts, row.last_error_code) == (
        OutboxState.PENDING,
        0,
        "stripe_not_configured",
    )
    assert row.next_attempt_at > timezone.now()  # not claimed again in a tight loop
    assert Refund.objects.get(pk=refund.pk).status == "approved"

    import invoicing.stripe.gateway as gateway_module

    no_stripe.STRIPE_API_KEY = recording_gateway.config.api_key
    no_stripe.STRIPE_API_BASE = recording_gateway.config.api_base
    monkeypatch.setattr(gateway_module, "_gateway_for", lambda config: recording_gateway)
    _make_due(row)
    assert outbox_dispatch(topics=[row.topic]).count("sent") == 1
    row.refresh_from_db()
    assert (row.state, row.attempts) == (OutboxState.SENT, 1)
    assert len(recording_client.requests_to("POST", "/v1/refunds")) == 1
    assert Refund.objects.get(pk=refund.pk).status == "succeeded"


def test_the_refund_page_says_stripe_is_not_configured(no_stripe, client):
    _, payment = paid_invoice_payment()
    client.force_login(staff("support"))
    response = client.post(
        f"/admin/disputes/refund/request/{payment.pk}/",
        {"amount": "2.00", "reason": "duplicate", "reason_text": "", "internal_note": ""},
        follow=True,
    )
    html = response.content.decode()
    assert NOTICE.format("refund") in html
    assert "queued for Stripe." not in html
    refund = Refund.objects.get()
    assert refund.status == "approved"
    no_stripe.STRIPE_API_KEY = "sk_test_tally_unused"
    page = client.get(f"/admin/disputes/refund/{refund.pk}/change/").content.decode()
    assert "Stripe is not configured" not in page


def test_the_invoice_page_says_stripe_is_not_configured(no_stripe, client):
    invoice = finalized_invoice(plan_key="nocfg")
    client.force_login(staff("finance"))
    html = client.get(f"/admin/invoicing/invoice/{invoice.pk}/change/").content.decode()
    assert NOTICE.format("invoice") in html
    no_stripe.STRIPE_API_KEY = "sk_test_tally_unused"
    html = client.get(f"/admin/invoicing/invoice/{invoice.pk}/change/").content.decode()
    assert "Stripe is not configured" not in html
    assert "not on Stripe yet (see the outbox)" in html
