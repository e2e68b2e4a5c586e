"""Finance corrects an invoice in a real browser: a partial credit note after its preview,
then void and re-issue from the invoice's page, landing on the replacement that links back."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from accounts.services import staff_user_create
from invoicing.models import Invoice
from invoicing.services.billing import billing_run
from invoicing.usage import UsageSource
from tests.browser.conftest import STAFF_PASSWORD, sign_in
from tests.invoicing.factories import make_contract
from tests.usage_sources import fixed_usage

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
USAGE = fixed_usage({"api_calls": 1000})  # 100.00 platform fee + 10.00 usage


def usage_source() -> UsageSource:
    return USAGE


def test_finance_credits_a_line_then_voids_and_reissues(
    page: Page, screenshot: Callable[..., Path], settings: Any
) -> None:
    settings.INVOICING_USAGE_SOURCE = f"{__name__}.usage_source"
    make_contract()
    billing_run(now=datetime(2026, 2, 3, tzinfo=UTC), usage=USAGE)
    invoice = Invoice.objects.get()
    staff_user_create(username="fay-finance", role="finance", password=STAFF_PASSWORD)

    sign_in(page, "fay-finance")
    page.goto(f"/admin/invoicing/invoice/{invoice.pk}/change/")
    page.get_by_role("link", name="Issue a credit note…").click()
    page.get_by_label("Reason").fill("Outage on Jan 3")
    page.get_by_label(re.compile("^Platform fee")).fill("25.00")
    screenshot("1-credit-note-form")
    page.get_by_role("button", name="Preview the credit note").click()
    expect(page.locator("#credit-note-effect")).to_contain_text("25.00")
    expect(page.locator("#content")).to_contain_text(
        "the amount due goes from 110.00 USD to 85.00 USD"
    )
    screenshot("2-credit-note-preview")
    page.get_by_role("button", name="Yes, issue the credit note").click()
    page.wait_for_url(re.compile(r"/admin/invoicing/creditnote/\d+/change/"))
    expect(page.locator(".messagelist")).to_contain_text("Credit note CN-000001 issued for 25.00")

    page.goto(f"/admin/invoicing/invoice/{invoice.pk}/change/")
    page.get_by_role("link", name="Void and re-issue…").click()
    page.get_by_label(re.compile("Why it is voided")).fill("Billed the wrong entity")
    screenshot("3-void-and-reissue")
    page.get_by_role("button", name="Yes, void and re-issue").click()
    # the click returns when the POST starts: read the replacement only once the redirect landed
    page.wait_for_url(re.compile(r"/admin/invoicing/invoice/\d+/change/$"))
    replacement = Invoice.objects.get(replaces=invoice)
    assert page.url.endswith(f"/admin/invoicing/invoice/{replacement.pk}/change/")
    expect(page.locator(".messagelist")).to_contain_text("re-issued as INV-000002")
    expect(page.locator(".field-replaces_link")).to_contain_text("INV-000001 (Void)")
    screenshot("4-replacement")
    page.locator(".field-replaces_link a").click()
    expect(page.locator(".field-replaced_by_link")).to_contain_text("INV-000002")
    expect(page.get_by_role("link", name="Re-issue…")).to_have_count(0)
