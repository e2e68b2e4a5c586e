"""The customers' usage pages in a real browser.

(a) A customer user signs in, sees this period's usage with drawn charts (Chart.js served
    from /static/vendor/) and an invoice whose total is the API's. (b) A signed link that
    expired is refused; a live one is refused inside an iframe of another origin by default
    and works there once that origin is allowed (``USAGE_EMBED_FRAME_ANCESTORS``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer
from rest_framework.test import APIClient

from accounts.portal.services import usage_link_create
from accounts.services import api_key_create
from tests.usage_pages.conftest import PASSWORD
from tests.usage_pages.world import build_live_world

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def api_get(path: str) -> dict:  # type: ignore[type-arg]
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION="Bearer " + api_key_create(name="t", scope="read").plaintext
    )
    response = client.get(path)
    assert response.status_code == 200, response.content
    return response.json()


def test_customer_signs_in_sees_usage_and_an_invoice_matching_the_api(
    page: Page, screenshot: Callable[..., Path]
) -> None:
    world = build_live_world()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto("/usage/")
    page.wait_for_url("**/usage/sign-in/?next=/usage/")
    expect(page.get_by_role("heading", name="Sign in to see your usage")).to_be_visible()
    screenshot("1-sign-in")
    page.get_by_label("Username").fill("ops-user")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/usage/$"))

    upcoming = api_get("/api/v1/customers/acme-prod/invoices/upcoming")
    expect(page.get_by_test_id("upcoming-total")).to_have_text(f"{upcoming['total']} USD")
    usage_row = page.locator("#usage-by-meter tr[data-charge='api_calls']")
    expect(usage_row).to_contain_text("17")
    # Charts are drawn by Chart.js (vendored, same origin) and the tables stay one click away.
    expect(page.locator("canvas[data-drawn='true']")).to_have_count(2)
    expect(page.locator("figure.chart summary").first).to_have_text("Table view")
    screenshot("2-overview")

    page.get_by_role("link", name="Invoices").click()
    number = world.invoice.number
    page.get_by_role("link", name=number, exact=True).click()
    page.wait_for_url(f"**/usage/invoices/{number}/")
    invoice = api_get(f"/api/v1/invoices/{number}")
    expect(page.get_by_test_id("invoice-total")).to_have_text(f"{invoice['total']} USD")
    assert invoice["total"] == "115.63"
    # Keyboard: open the explanation of the usage line with Enter on its summary.
    summary = page.locator("li[data-kind='usage']").first.locator("summary")
    summary.focus()
    page.keyboard.press("Enter")
    expect(page.locator("li[data-kind='usage']").first).to_contain_text(
        "Tier 2 (10 – ∞): 20 units × 0.25 + 1 = 6.00 USD"
    )
    screenshot("3-invoice")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    assert download.value.suggested_filename == f"{number}.pdf"
    assert errors == []


def test_an_expired_signed_link_is_refused_and_a_live_one_embeds(
    page: Page,
    screenshot: Callable[..., Path],
    live_server: LiveServer,
    allow_prod_host: str,
    settings: Any,
) -> None:
    world = build_live_world()
    expired = usage_link_create(
        customer=world.customer,
        lifetime=timedelta(hours=1),
        now=timezone.now() - timedelta(hours=2),
    )
    response = page.goto(f"/usage/l/{expired.token}/")
    assert response is not None and response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("This link has expired")
    expect(page.locator("body")).not_to_contain_text(world.invoice.number)
    screenshot("1-expired")

    live = usage_link_create(customer=world.customer, lifetime=timedelta(minutes=10))
    operator_app = (
        "<h1>Operator app</h1><iframe title='usage' width='1100' height='700' "
        f"src='{live_server.url}/usage/l/{live.token}/'></iframe>"
    )
    # By default ('self') a page of another origin (the operator's app, here tally.test)
    # cannot frame the link pages: Chromium refuses and reports the CSP directive.
    page.goto(f"{allow_prod_host}/usage/sign-in/")
    with page.expect_console_message(lambda m: "frame-ancestors 'self'" in m.text):
        page.set_content(operator_app)
    frame = page.frame_locator("iframe[title='usage']")
    expect(frame.get_by_test_id("upcoming-total")).to_have_count(0)
    screenshot("2-embedding-refused")

    # Once the operator's origin is allowed, only the link pages allow framing (CSP
    # frame-ancestors instead of X-Frame-Options: DENY).
    settings.USAGE_EMBED_FRAME_ANCESTORS = allow_prod_host
    page.goto(f"{allow_prod_host}/usage/sign-in/")
    page.set_content(operator_app)
    frame = page.frame_locator("iframe[title='usage']")
    expect(frame.get_by_test_id("upcoming-total")).to_be_visible()
    expect(frame.locator("header")).to_contain_text("Read-only link")
    screenshot("3-embedded")


CONTRAST_JS = (Path(__file__).parent / "contrast.js").read_text()
USAGE_TEXT = [
    ".brand span",
    ".nav a",
    ".kpi-label",
    ".kpi-value",
    "table.data thead th",
    "table.data td",
    ".muted",
    "figure.chart figcaption",
    ".chart-table summary",
    ".line details summary",
    "footer",
]


def test_usage_pages_are_readable_in_light_dark_and_on_a_phone(
    page: Page, screenshot: Callable[..., Path]
) -> None:
    world = build_live_world()
    token = usage_link_create(customer=world.customer).token
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.goto(f"/usage/l/{token}/")
        ratios = dict(page.evaluate(CONTRAST_JS, USAGE_TEXT))
        low = {sel: ratio for sel, ratio in ratios.items() if ratio is None or ratio < 4.5}
        assert not low, f"{scheme}: text below WCAG AA 4.5:1 (or missing): {low}"
    # The chart is a named image for assistive technology and reachable by keyboard.
    canvas = page.locator("figure.chart canvas").first
    expect(canvas).to_have_accessible_name("API calls: usage per day this period")
    expect(canvas).to_have_attribute("tabindex", "0")
    canvas.focus()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    screenshot("1-dark")

    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/usage/l/{token}/invoices/{world.invoice.number}/")
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px on a phone"
    expect(page.get_by_test_id("invoice-total")).to_be_visible()
    screenshot("2-phone")


def test_repeated_wrong_passwords_get_a_page_that_says_when_to_try_again(
    page: Page, screenshot: Callable[..., Path], settings: Any
) -> None:
    settings.USAGE_SIGN_IN_LIMIT_PER_USERNAME = "2/10m"
    build_live_world()
    page.goto("/usage/sign-in/")
    for _ in range(2):
        page.get_by_label("Username").fill("ops-user")
        page.get_by_label("Password").fill("not-the-password")
        with page.expect_response("**/usage/sign-in/") as answer:
            page.get_by_role("button", name="Sign in").click()
        assert answer.value.status == 200
        expect(page.get_by_role("alert")).to_contain_text("didn't match")
    page.get_by_label("Username").fill("ops-user")
    page.get_by_label("Password").fill(PASSWORD)  # the right one: refused all the same
    with page.expect_response("**/usage/sign-in/") as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 429
    expect(page.get_by_role("heading", name="Too many attempts")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Try again in 10 minutes")
    page.wait_for_load_state("load")  # the 429 page's stylesheet, before colours are read
    ratios = dict(page.evaluate(CONTRAST_JS, ["h1", "[data-testid=throttled] p"]))
    assert all(r is not None and r >= 4.5 for r in ratios.values()), ratios
    screenshot("1-throttled")
