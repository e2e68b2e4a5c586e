"""The admin theme as a person meets it: styled, readable (WCAG AA contrast), usable by
keyboard, in light and dark, on a phone; and the role dashboard with data and empty states."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, Response, expect

from accounts.models import ApiKey
from accounts.services import (
    api_key_create,
    api_key_revoke,
    customer_alias_add,
    customer_create,
    staff_user_create,
)
from tests.browser.conftest import STAFF_PASSWORD, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CONTRAST_JS = (Path(__file__).parent / "contrast.js").read_text()
HEADER_BG = "rgb(30, 27, 75)"  # --tally-header-bg in light mode
TEXT_ON_DASHBOARD = [
    "#user-tools",
    ".tally-subtitle",
    ".tally-home-head h1",
    ".tally-quiet",
    ".tally-chip-admin",
    ".tally-role-title",
    ".tally-panel-head h3",
    ".tally-search button",
    ".tally-row-main a",
    ".tally-row-detail",
    ".tally-badge-ok",
    ".tally-badge-danger",
    ".tally-panel-foot a",
    "#content-main caption a.section",
    "#content-main th a",
    "#recent-actions-module h2",
]
FORM_TEXT = [
    "div.breadcrumbs",
    "div.breadcrumbs a",
    ".fieldset-heading",
    ".aligned label",
    "div.help",
    ".submit-row input[name=_save]",
    ".submit-row input[name=_continue]",
    "#nav-sidebar a",
    ".object-tools a",
    ".readonly",
]
AA_TEXT = 4.5


def _contrast(page: Page, selectors: list[str]) -> dict[str, float | None]:
    return dict(page.evaluate(CONTRAST_JS, selectors))


def _tab_to(page: Page, selector: str, *, limit: int = 40) -> None:
    """Press Tab until ``selector`` has keyboard focus (fails after ``limit`` presses)."""
    target = page.locator(selector).first
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"{selector} never received focus by keyboard")


def test_dashboard_theme_contrast_focus_dark_and_mobile(
    page: Page, screenshot: Callable[..., Path]
) -> None:
    acme = customer_create(external_id="acme", name="Acme Rockets")
    customer_alias_add(customer=acme, alias="acme-old")
    staff_user_create(username="ada-admin", role="admin", password=STAFF_PASSWORD)
    stylesheets: dict[str, int] = {}

    def record(response: Response) -> None:
        if response.url.endswith(".css"):
            stylesheets[response.url.rsplit("/static/", 1)[-1]] = response.status

    page.on("response", record)
    sign_in(page, "ada-admin")

    # Django's admin CSS and Tally's layer are served by the live server and applied.
    assert stylesheets.get("admin/css/base.css") == 200, stylesheets
    assert stylesheets.get("tally/admin.css") == 200, stylesheets
    expect(page.locator("#header")).to_have_css("background-color", HEADER_BG)
    expect(page.locator(".tally-wordmark")).to_have_text("Tally")
    expect(page).to_have_title("Site administration | Tally")
    user_links = page.locator("#user-tools")
    expect(user_links.get_by_role("link", name="API docs")).to_have_attribute("href", "/api/docs/")
    expect(user_links.get_by_role("link", name="View site")).to_have_count(0)  # "/" is no page

    # Empty state first: no key has been used yet.
    keys_panel = page.locator("[data-panel='accounts.api_keys_recent']")
    expect(keys_panel.locator(".tally-empty")).to_have_text(
        "No API key was used in the last 24 hours."
    )
    empty_ratio = _contrast(page, [".tally-empty"])[".tally-empty"]
    assert empty_ratio is not None and empty_ratio >= AA_TEXT, empty_ratio
    screenshot("1-empty-keys-panel")

    used = api_key_create(name="ingest-prod", scope="ingest").api_key
    stale = api_key_create(name="old-reporting", scope="read").api_key
    revoked = api_key_create(name="leaked-key", scope="admin").api_key
    now = timezone.now()
    ApiKey.objects.filter(pk=used.pk).update(last_used_at=now - timedelta(minutes=5))
    ApiKey.objects.filter(pk=stale.pk).update(last_used_at=now - timedelta(hours=30))
    ApiKey.objects.filter(pk=revoked.pk).update(last_used_at=now - timedelta(hours=2))
    api_key_revoke(api_key=revoked)
    page.reload()
    rows = keys_panel.locator(".tally-row")
    expect(rows).to_have_count(2)  # the key last used 30 hours ago is not listed
    expect(rows.nth(0)).to_contain_text(f"ingest-prod ({used.prefix})")
    expect(rows.nth(0)).to_contain_text("ingest scope · all customers · used 5 minutes ago")
    expect(rows.nth(1)).to_contain_text("leaked-key")
    expect(rows.nth(1).locator(".tally-badge-danger")).to_have_text("revoked")
    screenshot("2-dashboard-light")

    ratios = _contrast(page, TEXT_ON_DASHBOARD)
    assert None not in ratios.values(), ratios
    assert min(ratios.values()) >= AA_TEXT, ratios

    # Keyboard: the search box is reachable by Tab and shows a visible focus ring.
    _tab_to(page, ".tally-search input[type=search]")
    focused = page.locator(".tally-search input[type=search]")
    expect(focused).to_have_css("outline-style", "solid")
    assert float(focused.evaluate("el => parseFloat(getComputedStyle(el).outlineWidth)")) >= 2
    _tab_to(page, ".tally-row-main a")
    expect(page.locator(".tally-row-main a").first).to_have_css("outline-width", "3px")
    screenshot("3-keyboard-focus", full_page=False)

    page.emulate_media(color_scheme="dark")
    page.reload()
    expect(page.locator("html")).to_have_css("color-scheme", "dark")
    dark = _contrast(page, TEXT_ON_DASHBOARD)
    assert min(v for v in dark.values() if v is not None) >= AA_TEXT, dark
    screenshot("4-dashboard-dark")

    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the home page scrolls sideways on a phone by {overflow}px"
    screenshot("5-dashboard-phone")


def test_change_form_and_login_are_themed(page: Page, screenshot: Callable[..., Path]) -> None:
    acme = customer_create(external_id="acme", name="Acme Rockets", currency="USD")
    staff_user_create(username="fran-finance", role="finance", password=STAFF_PASSWORD)

    page.goto("/admin/login/")
    expect(page.locator("#header")).to_have_css("background-color", HEADER_BG)
    login_ratios = _contrast(page, ["#site-name a", "label[for=id_username]", ".submit-row input"])
    assert min(login_ratios.values()) >= AA_TEXT, login_ratios
    screenshot("1-login")

    sign_in(page, "fran-finance")
    page.goto(f"/admin/accounts/customer/{acme.pk}/change/")
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.reload()
        form_ratios = _contrast(page, FORM_TEXT)
        assert None not in form_ratios.values(), (scheme, form_ratios)
        assert min(form_ratios.values()) >= AA_TEXT, (scheme, form_ratios)
        # Inputs are outlined at >= 3:1 against the card (WCAG 1.4.11, non-text contrast).
        border = _contrast_border(page, "#id_name")
        assert border >= 3, (scheme, border)
        screenshot(f"2-change-form-{scheme}")
    page.emulate_media(color_scheme="light")
    page.goto("/admin/accounts/customer/")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    screenshot("3-changelist")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the customer list scrolls sideways on a phone by {overflow}px"
    screenshot("4-changelist-phone")


def _contrast_border(page: Page, selector: str) -> float:
    """Contrast between an element's border colour and the background behind it."""
    js = CONTRAST_JS.replace("getComputedStyle(el).color", "getComputedStyle(el).borderTopColor")
    return float(dict(page.evaluate(js, [selector]))[selector])


def test_admin_widgets_still_work_under_the_theme(
    page: Page, screenshot: Callable[..., Path]
) -> None:
    """Django's own admin JavaScript keeps working: inline rows, autocomplete, the selector
    widget, delete confirmation; and no page raises a JavaScript error."""
    acme = customer_create(external_id="acme", name="Acme Rockets")
    customer_create(external_id="globex", name="Globex Corporation")
    admin = staff_user_create(username="ada-admin", role="admin", password=STAFF_PASSWORD)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, "ada-admin")

    page.goto(f"/admin/accounts/customer/{acme.pk}/change/")
    aliases = page.locator("#aliases-group")
    aliases.locator(".add-row a").click()
    expect(aliases.locator("tr.form-row.dynamic-aliases")).to_have_count(1)
    aliases.locator("input[name='aliases-0-alias']").fill("acme-eu")
    page.locator("input[name='_continue']").click()
    expect(page.locator("ul.messagelist li.success")).to_be_visible()
    assert list(acme.aliases.values_list("alias", flat=True)) == ["acme-eu"]
    screenshot("1-inline-saved")

    page.goto("/admin/accounts/apikey/add/")
    page.locator(".field-customer .select2-selection").click()
    page.locator(".select2-search__field").fill("Globex")
    expect(page.locator(".select2-results__option").first).to_have_text(
        "Globex Corporation (globex)"
    )
    screenshot("2-autocomplete")
    page.keyboard.press("Escape")

    page.goto(f"/admin/auth/user/{admin.pk}/change/")
    expect(page.locator("#id_groups_from")).to_be_visible()  # the two-list selector widget
    widget = _contrast(page, [".selector-chosen-title label", ".selector-available-title label"])
    assert None not in widget.values() and min(widget.values()) >= AA_TEXT, widget
    screenshot("3-selector-widget")

    page.goto(f"/admin/accounts/customer/{acme.pk}/delete/")
    expect(page.get_by_role("button", name="Yes, I’m sure")).to_be_visible()
    chrome = _contrast(page, ["#logout-form button", "#user-tools", ".delete-confirmation h1"])
    assert min(chrome.values()) >= AA_TEXT, chrome  # page-specific CSS leaves the header alone
    screenshot("4-delete-confirmation")
    assert errors == []
