"""Self-serve alerts in a real browser: a customer user sets a spend alert on the usage pages
just above the upcoming invoice, more usage arrives (ingest, rollups, the alert evaluation a
worker runs), and the customer sees the alert's trigger on the page."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from invoicing.alerts.models import AlertTrigger
from invoicing.alerts.services import alerts_evaluate_pending
from metering.services import rollup_drain
from tests.browser.test_usage_pages import api_get
from tests.usage_pages.conftest import PASSWORD, send
from tests.usage_pages.world import build_live_world

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_customer_sets_a_spend_alert_and_sees_it_trigger(
    page: Page, screenshot: Callable[..., Path]
) -> None:
    build_live_world()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/usage/")
    page.wait_for_url("**/usage/sign-in/?next=/usage/")
    page.get_by_label("Username").fill("ops-user")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/usage/$"))

    page.get_by_role("link", name="Alerts").click()
    page.wait_for_url("**/usage/alerts/")
    expect(page.locator("#alert-triggers")).to_contain_text("No alert has fired yet.")
    upcoming = Decimal(api_get("/api/v1/customers/acme-prod/invoices/upcoming")["total"])
    budget = upcoming + 2  # 20 more calls at 0.25 (tier 2) cross it
    page.get_by_label("Name").fill("Monthly budget")
    page.get_by_label("Type").select_option("spend_threshold")
    page.get_by_label("Threshold").fill(str(budget))
    screenshot("1-new-alert")
    page.get_by_role("button", name="Create alert").click()
    page.wait_for_url("**/usage/alerts/")
    expect(page.locator("#alerts")).to_contain_text("Monthly budget")
    expect(page.locator("#alerts")).to_contain_text("You")

    alerts_evaluate_pending()  # the new alert is evaluated at once: below budget, no trigger
    assert not AlertTrigger.objects.exists()
    send("acme-prod", "budget", 20, timezone.now() - timedelta(minutes=2))
    rollup_drain()  # the rollup worker: applies the events and queues the customer
    alerts_evaluate_pending()  # the alerts worker
    trigger = AlertTrigger.objects.get()
    page.reload()
    row = page.locator(f"#alert-triggers tr[data-trigger='{trigger.pk}']")
    expect(row).to_contain_text("Monthly budget")
    expect(row).to_contain_text(f"{budget.normalize()}")
    expect(row).to_contain_text("Open")
    screenshot("2-triggered")
    assert errors == []
