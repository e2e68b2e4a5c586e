"""A plan that bills a meter that no longer exists (deleted in the admin): the usage pages and
Customer 360 still answer, the charge shown without usage detail and the cause logged, instead
of a 500."""

from __future__ import annotations

import logging
import re

import pytest
from django.test import Client

from accounts.services import staff_user_create
from metering.models import Meter
from tests.usage_pages.conftest import World

pytestmark = pytest.mark.django_db


def text(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_the_overview_shows_the_charge_without_usage_and_logs_it(
    world: World, acme_client: Client, frozen_now: object, caplog: pytest.LogCaptureFixture
) -> None:
    Meter.objects.filter(key="calls_by_region").delete()
    with caplog.at_level(logging.WARNING, logger="invoicing.usage_pages.tolerant"):
        page = acme_client.get("/usage/")
    assert page.status_code == 200
    rows = {row["c"].charge_key: row for row in page.context["charges"]}
    assert rows["regional"]["quantity"] == rows["regional"]["forecast_quantity"] == "—"
    assert rows["api_calls"]["quantity"] == "22"  # the other charges read as before
    assert page.context["missing_meters"] == ["calls_by_region"]
    body = text(page)
    assert "Some usage cannot be shown right now" in body
    assert "the meter it bills no longer exists" in body
    regional = next(ln for ln in page.context["lines"] if ln.description == "Regional")
    assert regional.quantity == ""
    logged = [r for r in caplog.records if "calls_by_region" in r.getMessage()]
    assert len(logged) == 1 and logged[0].levelno == logging.WARNING

    # the invoice already issued on that meter, and the meter pages, still answer
    invoice = acme_client.get(f"/usage/invoices/{world.acme_invoice.number}/")
    assert invoice.status_code == 200 and "Regional" in text(invoice)
    assert acme_client.get("/usage/meters/calls_by_region/").status_code == 404
    assert acme_client.get("/usage/meters/api_calls/").status_code == 200


def test_customer_360_says_which_meter_is_missing(world: World, frozen_now: object) -> None:
    Meter.objects.filter(key="calls_by_region").delete()
    staff_user_create(username="support-1", role="support", password="staff-password-123")
    client = Client()
    assert client.login(username="support-1", password="staff-password-123")
    page = client.get(f"/admin/accounts/customer/{world.acme.pk}/360/")
    assert page.status_code == 200
    assert not any(item.failed for item in page.context["sections"])
    body = text(page)
    assert "The plan bills meter calls_by_region, which no longer exists" in body
    assert "API calls api_calls 22" in body
