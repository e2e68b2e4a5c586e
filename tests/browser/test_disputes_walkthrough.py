"""Refunds and disputes in a real browser (Playwright + Chromium, live server, localstripe).

(a) A Support agent requests a refund above the approval threshold from an invoice; a Finance
    user approves it from the dashboard; the outbox sends it to localstripe (dispatched here,
    synchronously) and the refund shows as succeeded with its credit note.
(b) A dispute arrives as a signed webhook; the agent opens it from the queue, sees the
    evidence packet (invoice, usage summary, sign-ins, notes), and submits the evidence after
    the confirmation page; the submission is recorded with the agent's name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.services import staff_user_create
from billingsite.display import money_text
from billingsite.money import round_line, to_minor_units
from billingsite.outbox.services import outbox_dispatch
from disputes.models import Dispute, DisputeEvidenceSubmission, Refund
from invoicing.models import Payment, StripeWebhookEvent
from invoicing.services.invoices import invoice_mark_paid
from invoicing.stripe.inbox import webhook_event_process
from tests.browser.conftest import STAFF_PASSWORD, sign_in
from tests.disputes.factories import dispute_obj
from tests.stripe.sync_support import SECRET, finalized_invoice, post_event
from tests.stripe_support import stripe_event

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def charged(localstripe, localstripe_settings, localstripe_gateway):
    """A paid invoice whose payment is a real payment intent on localstripe."""
    invoice = invoice_mark_paid(invoice=finalized_invoice(), now=timezone.now())
    customer = localstripe_gateway.customer_create(
        idempotency_key=f"customer:{uuid4().hex}", email="billing@walk.example", name="Walk"
    )
    card = localstripe.card_payment_method()
    localstripe_gateway.payment_method_attach(
        card, customer.id, idempotency_key=f"pm:{uuid4().hex}"
    )
    minor = to_minor_units(round_line(invoice.total.amount, invoice.currency), invoice.currency)
    intent = localstripe_gateway.payment_intent_create(
        customer.id,
        amount=minor,
        currency=invoice.currency,
        payment_method_id=card,
        idempotency_key=f"payment:{uuid4().hex}",
    )
    latest = intent.latest_charge
    payment = Payment.objects.create(
        customer=invoice.customer,
        invoice=invoice,
        stripe_payment_intent_id=intent.id,
        stripe_charge_id=latest if isinstance(latest, str) else latest.id,
        currency=invoice.currency,
        amount=invoice.total,
        amount_captured=invoice.total,
        status="succeeded",
        stripe_created=timezone.now(),
    )
    return invoice, payment


def test_agent_requests_finance_approves_refund_succeeds_on_localstripe(
    page: Page, screenshot: Callable[..., Path], charged, settings
) -> None:
    settings.REFUND_APPROVAL_THRESHOLD = Decimal("1.00")
    invoice, payment = charged
    staff_user_create(username="ann-support", role="support", password=STAFF_PASSWORD)
    staff_user_create(username="fin-finance", role="finance", password=STAFF_PASSWORD)

    sign_in(page, "ann-support")
    page.goto(f"/admin/disputes/refund/request/invoice/{invoice.pk}/")
    refundable = money_text(payment.amount_captured, payment.currency)
    expect(page.locator("#refundable")).to_have_text(refundable)
    page.locator("#id_amount").fill("5.00")
    page.locator("#id_reason").select_option("service_issue")
    page.get_by_label("Reason (free text)").fill("API outage on the 3rd")
    page.get_by_label("Internal note").fill("Ticket 4711")
    screenshot("1-request")
    page.get_by_role("button", name="Request refund").click()
    expect(page.locator(".messagelist")).to_contain_text("waits for a Finance approver")
    refund = Refund.objects.get()
    assert (refund.status, refund.amount.amount) == ("requested", Decimal("5.00"))

    page.context.clear_cookies()
    sign_in(page, "fin-finance")
    panel = page.locator("[data-panel='disputes.refunds_to_approve']")
    expect(panel).to_contain_text("5.00")
    screenshot("2-finance-dashboard")
    panel.get_by_role("link").first.click()
    page.get_by_role("button", name="Yes, approve").click()
    expect(page.locator(".messagelist")).to_contain_text("approved; it will be sent to Stripe")

    outbox_dispatch(topics=["stripe.refund.create"])  # what the worker does after commit
    refund.refresh_from_db()
    assert refund.status == "succeeded" and refund.stripe_refund_id.startswith("re_")
    assert refund.credit_note.total.amount == Decimal("5.00")
    page.reload()
    expect(page.locator(".field-status .readonly")).to_have_text("Succeeded")
    expect(page.locator(".field-credit_note .readonly")).to_contain_text("CN")
    screenshot("3-succeeded")


def test_agent_opens_dispute_sees_packet_and_submits(
    page: Page, screenshot: Callable[..., Path], charged, settings
) -> None:
    settings.STRIPE_WEBHOOK_SECRETS = [SECRET]
    invoice, payment = charged
    staff_user_create(username="dee-support", role="support", password=STAFF_PASSWORD)
    payload = stripe_event(
        "charge.dispute.created", dispute_obj(payment, dispute_id="dp_walk", amount_minor=500)
    )
    assert post_event(Client(), payload).status_code == 200
    webhook_event_process(
        event_pk=StripeWebhookEvent.objects.get(stripe_id=json.loads(payload)["id"]).pk
    )
    dispute = Dispute.objects.get(stripe_id="dp_walk")

    sign_in(page, "dee-support")
    page.goto("/admin/disputes/dispute/?open=yes")
    page.get_by_role("link", name="Evidence packet…").first.click()
    page.wait_for_url(re.compile(rf"/admin/disputes/dispute/{dispute.pk}/evidence/"))
    packet = page.locator("#evidence-packet")
    expect(packet).to_contain_text(str(invoice))
    expect(packet).to_contain_text("Usage in the disputed period")
    page.get_by_label("Communication note").fill("Customer confirmed the account is theirs.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#notes")).to_contain_text("confirmed the account")
    screenshot("1-packet")
    page.get_by_label("Product description").fill("Metered API access, invoiced monthly")
    page.get_by_role("button", name="Submit to Stripe…").click()
    expect(page.locator("#submit-confirm")).to_contain_text("cannot be edited")
    screenshot("2-confirm")
    page.get_by_role("button", name="Yes, submit to Stripe").click()
    expect(page.locator("#submitted")).to_contain_text("Evidence submitted")
    submission = DisputeEvidenceSubmission.objects.get(submit=True)
    assert submission.actor.username == "dee-support"
    assert submission.evidence["product_description"] == "Metered API access, invoiced monthly"
    assert "customer_communication" in submission.evidence
    screenshot("3-submitted")
