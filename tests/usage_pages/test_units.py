"""Quantities read with their meter's unit wherever a meter quantity is shown: the usage pages
(overview, meter page, invoice lines), Customer 360, Explain this charge and the admin's
invoice lines. A meter without a unit shows the bare number."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.services import staff_user_create
from metering.models import Meter
from tests.usage_pages.conftest import World

pytestmark = pytest.mark.django_db
PASSWORD = "staff-password-123"


def text(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.fixture
def units(world: World) -> None:
    Meter.objects.filter(key="api_calls").update(unit="calls")  # calls_by_region has none


def support() -> Client:
    staff_user_create(username="support-1", role="support", password=PASSWORD)
    client = Client()
    assert client.login(username="support-1", password=PASSWORD)
    return client


def test_overview_and_meter_page_show_the_unit(
    world: World, units: None, acme_client: Client, frozen_now: object
) -> None:
    page = acme_client.get("/usage/")
    assert page.status_code == 200
    rows = {row["c"].charge_key: row for row in page.context["charges"]}
    assert rows["api_calls"]["quantity"] == "22 calls"
    assert rows["api_calls"]["forecast_quantity"].endswith(" calls")
    assert rows["regional"]["quantity"] == "22"  # no unit on that meter
    assert "Quantity 22 calls" in text(page)  # the upcoming invoice's lines, explained
    meter = acme_client.get(
        "/usage/meters/api_calls/", {"start": "2026-02-01", "end": "2026-02-15"}
    )
    assert meter.status_code == 200
    assert meter.context["total"] == "22 calls"
    assert "api_calls (calls)" in text(meter)  # the chart table's column heading


def test_invoice_page_lines_show_the_unit(
    world: World, units: None, acme_client: Client, frozen_now: object
) -> None:
    page = acme_client.get(f"/usage/invoices/{world.acme_invoice.number}/")
    assert page.status_code == 200
    quantities = {line.description: line.quantity for line in page.context["lines"]}
    assert quantities["API calls"] == "30 calls"
    assert "Quantity 30 calls" in text(page)


def test_customer_360_explain_and_the_admin_invoice_show_the_unit(
    world: World, units: None, frozen_now: object
) -> None:
    client = support()
    c360 = client.get(f"/admin/accounts/customer/{world.acme.pk}/360/")
    assert c360.status_code == 200
    assert "API calls api_calls 22 calls" in text(c360)

    line = world.acme_invoice.lines.get(charge_key="api_calls")
    explain = client.get(f"/admin/invoicing/invoiceline/{line.pk}/explain/")
    assert explain.status_code == 200
    body = text(explain)
    assert "Billed quantity 30 calls" in body
    assert "Usage now 30 calls" in body
    rollups = explain.context["x"].rollups
    assert rollups and all(r.value > 0 for r in rollups)
    assert f"v1 (no grouping) {rollups[0].value.normalize():f} calls" in body

    invoice = client.get(f"/admin/invoicing/invoice/{world.acme_invoice.pk}/change/")
    assert invoice.status_code == 200
    assert "api_calls 30 calls" in text(invoice)
