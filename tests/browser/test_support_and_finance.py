"""Support and Finance at work in the admin, in a real browser.

(a) Support signs in, finds a customer by an alias from the home page search, opens it,
    and sees the billing terms read-only. (b) Finance changes a customer's currency; the
    change is saved and shows in the customer's history with Finance's name on it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Customer
from accounts.services import customer_alias_add, customer_create, staff_user_create
from tests.browser.conftest import STAFF_PASSWORD, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_support_finds_customer_by_alias_and_sees_billing_terms_read_only(
    page: Page, screenshot: Callable[..., Path]
) -> None:
    acme = customer_create(
        external_id="acme-prod", name="Acme Rockets", currency="USD", email="billing@acme.example"
    )
    customer_alias_add(customer=acme, alias="acme-legacy-42")
    customer_create(external_id="globex", name="Globex Corporation", currency="EUR")
    staff_user_create(username="sam-support", role="support", password=STAFF_PASSWORD)

    sign_in(page, "sam-support")
    expect(page.locator(".tally-roles")).to_contain_text("Support")
    dashboard = page.locator("#tally-dashboard")
    expect(dashboard.locator("[data-panel='accounts.recent_customer_changes']")).to_contain_text(
        "Acme Rockets (acme-prod)"
    )
    # Admin-only panels stay hidden from Support.
    expect(dashboard.locator("[data-panel='accounts.api_keys_recent']")).to_have_count(0)
    screenshot("1-dashboard")

    search = page.get_by_role("search").get_by_label("Search customers")
    search.fill("acme-legacy-42")
    search.press("Enter")
    # one match: the search opens the 360 page, which links to the edit form
    page.wait_for_url(re.compile(rf"/admin/accounts/customer/{acme.pk}/360/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Acme Rockets")
    expect(page.locator("#content")).not_to_contain_text("Globex")
    screenshot("2-search-by-alias")

    page.locator("#content").get_by_role("link", name="Edit customer").click()
    page.wait_for_url(re.compile(rf"/admin/accounts/customer/{acme.pk}/change/"))
    expect(page.locator("#id_name")).to_have_value("Acme Rockets")
    # Billing terms are not editable for Support: shown as text, with no input to change.
    expect(page.locator("[name='currency']")).to_have_count(0)
    expect(page.locator(".field-currency .readonly")).to_have_text("USD")
    expect(page.locator(".field-currency label")).to_contain_text("Currency")
    screenshot("3-customer")


def test_finance_changes_currency_and_sees_it_in_history(
    page: Page, screenshot: Callable[..., Path]
) -> None:
    initech = customer_create(external_id="initech", name="Initech", currency="USD")
    staff_user_create(username="fran-finance", role="finance", password=STAFF_PASSWORD)

    sign_in(page, "fran-finance")
    expect(page.locator(".tally-roles")).to_contain_text("Finance")
    page.goto(f"/admin/accounts/customer/{initech.pk}/change/")
    currency = page.locator("#id_currency")
    expect(currency).to_be_editable()
    expect(currency).to_have_value("USD")
    currency.fill("EUR")
    screenshot("1-editing")
    page.locator("input[name='_save']").click()
    page.wait_for_url("**/admin/accounts/customer/")
    expect(page.locator("ul.messagelist li.success")).to_contain_text("Initech")
    screenshot("2-saved")

    initech.refresh_from_db()
    assert initech.currency == "EUR"
    latest, previous = list(Customer.history.filter(id=initech.pk).order_by("-history_id")[:2])
    assert (latest.currency, previous.currency) == ("EUR", "USD")
    assert latest.history_user.username == "fran-finance"

    page.goto(f"/admin/accounts/customer/{initech.pk}/history/")
    newest = page.locator("#change-history tbody tr").first
    expect(newest).to_contain_text("fran-finance")
    expect(newest).to_contain_text("EUR")
    screenshot("3-history")
