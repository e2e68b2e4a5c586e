"""The back office around one customer, in a real browser.

(a) Support finds a customer by an alias from the home page search, opens the Customer 360
    page, explains a charge down to its events, and opens the usage pages as the customer
    (read-only, logged). (b) Finance amends the contract from the 360 page and sees the
    impact on the next invoice before saving it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from accounts.models import UsagePageSignIn
from accounts.services import staff_user_create
from invoicing.models import ContractAmendment
from tests.browser.conftest import SCREENSHOTS, STAFF_PASSWORD, sign_in
from tests.usage_pages.world import build_live_world

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_support_finds_a_customer_by_alias_and_opens_the_360_page(
    page: Page, screenshot: Callable[..., Path]
) -> None:
    world = build_live_world()
    staff_user_create(username="sam-support", role="support", password=STAFF_PASSWORD)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    sign_in(page, "sam-support")
    search = page.get_by_role("search").get_by_label("Search customers")
    search.fill("acme-legacy-42")
    search.press("Enter")
    # one match: the dashboard search opens the customer's 360 page directly
    page.wait_for_url(re.compile(rf"/admin/accounts/customer/{world.customer.pk}/360/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Acme Rockets")
    for title in (
        "Profile",
        "Contract and amendments",
        "Usage this period",
        "Invoices",
        "Payments",
        "Credit ledger",
        "Contacts and notes",
        "Usage-page access",
        "Audit history",
    ):
        expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
    expect(page.get_by_test_id("aliases")).to_contain_text("acme-legacy-42")
    invoices = page.locator("#c360-invoices")
    expect(invoices).to_contain_text(world.invoice.number)
    expect(invoices).not_to_contain_text("Globex")
    expect(
        page.locator("[data-section='invoicing.usage'] canvas[data-drawn='true']")
    ).to_have_count(2)
    screenshot("1-customer-360")

    invoices.get_by_role("link", name=world.invoice.number).click()
    # wait for each page to finish loading before the next click: on a loaded CI machine a
    # click during the invoice page's load left the test on that page (stop 25's CI run)
    page.wait_for_url(re.compile(rf"/admin/invoicing/invoice/{world.invoice.pk}/change/$"))
    page.get_by_role("link", name="Explain this charge").nth(1).click()
    page.wait_for_url(re.compile(r"/admin/invoicing/invoiceline/\d+/explain/$"), timeout=30_000)
    expect(page.get_by_test_id("usage-now")).to_contain_text("30")
    expect(page.get_by_test_id("usage-now")).to_contain_text("matches the line")
    expect(page.locator("[data-section='events'] tbody tr")).to_have_count(20)
    screenshot("2-explain-this-charge")

    page.go_back()
    page.go_back()
    with page.context.expect_page() as opened:
        page.get_by_role("button", name="Open usage pages as this customer").click()
    usage = opened.value
    usage.wait_for_load_state()
    expect(usage.locator("header")).to_contain_text("Staff view · read-only")
    expect(usage.get_by_test_id("upcoming-total")).to_be_visible()
    name = "test_support_finds_a_customer_by_alias_and_opens_the_360_page-3-usage-as-customer"
    usage.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    entry = UsagePageSignIn.objects.get()
    assert (entry.method, entry.user.username, entry.customer) == (
        "staff",
        "sam-support",
        world.customer,
    )
    page.reload()
    expect(page.locator("#c360-sign-ins")).to_contain_text("sam-support")
    assert errors == []


def test_finance_amends_the_contract_and_sees_the_impact_preview(
    page: Page, screenshot: Callable[..., Path]
) -> None:
    world = build_live_world()
    staff_user_create(username="fran-finance", role="finance", password=STAFF_PASSWORD)

    sign_in(page, "fran-finance")
    page.goto(f"/admin/accounts/customer/{world.customer.pk}/360/")
    page.get_by_role("link", name="Amend…").click()
    page.wait_for_url(f"**/admin/invoicing/contract/{world.contract.pk}/amend/")
    page.locator("#id_effective_date").fill(world.this_month.isoformat())
    page.locator("#id_discount_name").fill("Loyalty")
    page.locator("#id_discount_kind").select_option("percentage")
    page.locator("#id_discount_value").fill("10")
    page.locator("#id_note").fill("Loyalty discount agreed on the renewal call")
    page.get_by_role("button", name="Preview impact on the next invoice").click()
    difference = page.locator("#content tr", has_text="Difference")
    expect(difference).to_be_visible()
    # 10% of this period's charges so far: 100.00 + 7.75 + 1.70 = 109.45 -> -10.95 (rounded).
    expect(difference).to_contain_text("-10.95")
    expect(page.locator("#content tr", has_text="Discount: Loyalty")).to_contain_text("-10.95")
    assert ContractAmendment.objects.count() == 0  # a preview saves nothing
    screenshot("1-impact-preview")

    page.get_by_role("button", name="Save amendment").click()
    expect(page.locator("ul.messagelist li.success")).to_contain_text("Amendment saved.")
    amendment = ContractAmendment.objects.get()
    assert amendment.created_by.username == "fran-finance"
    assert Decimal(amendment.contract.discounts.get().value) == 10
    page.goto(f"/admin/accounts/customer/{world.customer.pk}/360/")
    contract = page.locator("[data-section='invoicing.contracts']")
    expect(contract).to_contain_text("Loyalty discount agreed on the renewal call")
    expect(contract).to_contain_text("fran-finance")
    screenshot("2-amendment-on-360")


FIT_CHECK = """() => {
  const bad = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth + 1) bad.push(`page ${doc.scrollWidth}px wide`);
  const items = document.querySelectorAll(
    ".c360-actions .button, .c360-actions button, .c360-toc a");
  for (const el of items) {
    const style = getComputedStyle(el);
    const line = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.4;
    const pad = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
    const text = el.textContent.trim();
    if (el.scrollWidth > el.clientWidth + 1) bad.push(`clipped: ${text}`);
    if (el.getClientRects().length > 1 || el.clientHeight > pad + line * 1.5)
      bad.push(`wraps: ${text}`);
  }
  return bad;
}"""


def test_customer_360_buttons_and_section_nav_fit_at_1366(
    page: Page, screenshot: Callable[..., Path]
) -> None:
    world = build_live_world()
    staff_user_create(username="fit-finance", role="finance", password=STAFF_PASSWORD)
    page.set_viewport_size({"width": 1366, "height": 900})
    sign_in(page, "fit-finance")
    page.goto(f"/admin/accounts/customer/{world.customer.pk}/360/")
    expect(page.get_by_role("button", name="Create a usage link (7 days)")).to_be_visible()
    expect(page.get_by_test_id("c360-cost")).to_contain_text("Cost so far")
    assert page.evaluate(FIT_CHECK) == []
    screenshot("1366-customer-360")
