"""Self-serve credit top-up in a real browser: with ``CREDIT_TOP_UP_SELF_SERVE`` on, a customer
user opens the Credits page, buys a top-up (the button double-clicked: one purchase, one outbox
charge), sees it being charged, and after the payment succeeds (the outbox handler's outcome,
``credit_purchase_settle``) sees it paid with the balance after it."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import override_settings
from django.utils import timezone
from playwright.sync_api import Page, expect

from billingsite.outbox.models import OutboxMessage
from invoicing.models import CreditPurchase
from invoicing.services.credit_purchase_settle import credit_purchase_settle
from invoicing.services.credit_topups import customer_credit_balance
from tests.usage_pages.conftest import PASSWORD
from tests.usage_pages.world import build_live_world

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@override_settings(CREDIT_TOP_UP_SELF_SERVE=True)
def test_customer_buys_a_top_up_once_and_sees_it_paid(
    page: Page, screenshot: Callable[..., Path]
) -> None:
    world = build_live_world()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/usage/credits/")
    page.wait_for_url("**/usage/sign-in/?next=/usage/credits/")
    page.get_by_label("Username").fill("ops-user")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/usage/credits/$"))
    expect(page.locator("#credit-purchases")).to_contain_text("You have not bought credit yet.")
    expect(page.get_by_test_id("credit-balance")).to_have_text("0.00 USD")

    page.get_by_label("Amount (USD)").fill("5")  # below the minimum: refused on the page
    page.get_by_role("button", name="Buy credit").click()
    expect(page.get_by_role("alert")).to_contain_text("Choose an amount from 10.00 USD")
    assert not CreditPurchase.objects.exists()

    page.get_by_label("Amount (USD)").fill("250.00")
    screenshot("1-buy")
    page.get_by_role("button", name="Buy credit").dblclick()
    page.wait_for_url("**/usage/credits/?bought=1")
    expect(page.get_by_test_id("bought")).to_contain_text("we are charging your card")
    row = page.locator("#credit-purchases tbody tr").first
    expect(row).to_contain_text("250.00 USD")
    expect(row).to_contain_text("Payment in progress")
    purchase = CreditPurchase.objects.get()  # one purchase, whatever the double click sent
    assert purchase.customer_id == world.customer.pk and purchase.amount.amount == Decimal("250")
    assert OutboxMessage.objects.filter(topic="stripe.credit_purchase.charge").count() == 1

    credit_purchase_settle(purchase_id=purchase.pk, payment_intent_id="pi_browser_1")
    page.reload()
    row = page.locator("#credit-purchases tbody tr").first
    expect(row).to_contain_text("Paid, credit added")
    balance = customer_credit_balance(world.customer.pk, "USD", at=timezone.now())
    expect(row).to_contain_text(f"{balance:,.2f} USD")
    expect(page.get_by_test_id("credit-balance")).to_have_text(f"{balance:,.2f} USD")
    expect(page.locator("main")).not_to_contain_text("pi_browser_1")
    screenshot("2-paid")
    assert errors == []
