"""The usage pages show the invoice's numbers to the cent, from the code that bills."""

from __future__ import annotations

import csv
import io
import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.test import Client

from billingsite.money import exact_context, format_amount
from invoicing.pricing import parse_price_spec, rate_quantity
from invoicing.usage_pages.presenters import money
from invoicing.usage_pages.selectors import projection_factor, usage_overview
from tests.usage_pages.conftest import NOW, World

pytestmark = pytest.mark.django_db


def text(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_overview_equals_the_upcoming_invoice_api(
    world: World, acme_client: Client, frozen_now: object, api_client_for
) -> None:
    api = api_client_for("read").get("/api/v1/customers/acme/invoices/upcoming").json()
    page = acme_client.get("/usage/")
    assert page.status_code == 200
    assert api["total"] == "112.37"  # 100 fixed + 9.00 graduated (22 calls) + 3.37 matrix
    shown = page.context["upcoming_total"]
    assert shown == "112.37 USD"
    for line in api["lines"]:
        assert money(Decimal(line["amount"]), "USD") in text(page)
    charges = {c.charge_key: c for c in page.context["overview"].charges}
    assert charges["api_calls"].quantity == 22
    assert charges["api_calls"].cost == Decimal("9.00")
    assert charges["regional"].cost == Decimal("3.37")  # 17 eu * 0.1 + 5 us * 0.333 = 3.365


def test_forecast_is_the_same_rating_of_the_projected_quantity(
    world: World, frozen_now: object
) -> None:
    overview = usage_overview(world.acme, at=NOW)
    assert overview is not None
    factor = projection_factor(overview.period, NOW)
    # Acme's February runs from 05:00 UTC on Feb 1 to 05:00 UTC on Mar 1 (New York).
    with exact_context():
        assert factor == Decimal(28 * 24) / Decimal(14 * 24 + 7)
    calls = next(c for c in overview.charges if c.charge_key == "api_calls")
    expected_qty = (Decimal(22) * factor).quantize(Decimal("0.000001"), ROUND_HALF_UP)
    assert calls.forecast_quantity == expected_qty
    price = next(ln.price for ln in overview.computation.lines if ln.charge_key == "api_calls")
    assert calls.forecast_cost == rate_quantity(parse_price_spec(price), expected_qty, "USD").amount


def test_invoice_detail_total_and_lines_match_the_invoice_api(
    world: World, acme_client: Client, frozen_now: object, api_client_for
) -> None:
    number = world.acme_invoice.number
    api = api_client_for("read").get(f"/api/v1/invoices/{number}").json()
    page = acme_client.get(f"/usage/invoices/{number}/")
    assert page.status_code == 200
    assert page.context["total"] == f"{api['total']} USD" == "115.63 USD"
    body = text(page)
    for line in api["lines"]:
        assert money(Decimal(line["amount"]), "USD") in body
    # Every usage line is explained: meter, quantity, tiers and the arithmetic.
    assert "API calls (api_calls)" in body
    assert "Tier 2 (10 – ∞): 20 units × 0.25 + 1 = 6.00 USD" in body
    assert "region=us: 7 units × 0.333 = 2.331 USD" in body
    assert "Exact amount 4.631 USD, rounded once to 4.63 USD." in body
    assert "2026-01-01 to 2026-01-31" in body  # the period in the customer's time zone


def test_invoice_list_and_pdf(world: World, acme_client: Client, frozen_now: object) -> None:
    page = acme_client.get("/usage/invoices/")
    assert [row["inv"].number for row in page.context["invoices"]] == [world.acme_invoice.number]
    assert page.context["invoices"][0]["total"] == "115.63 USD"
    pdf = acme_client.get(f"/usage/invoices/{world.acme_invoice.number}/pdf")
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


def test_meter_detail_groups_and_csv_export_in_customer_time_zone(
    world: World, acme_client: Client, frozen_now: object
) -> None:
    query = "start=2026-01-01&end=2026-02-15&window=day&group=region"
    page = acme_client.get(f"/usage/meters/calls_by_region/?{query}")
    assert page.status_code == 200
    assert page.context["total"] == "52"  # 30 in January + 22 in February
    assert dict(page.context["groups"]) == {"region=eu": "40", "region=us": "12"}
    chart = page.context["chart"]
    assert chart.columns == ["eu", "us"]
    assert len(chart.rows) == 46  # every local day in the range, also the empty ones
    export = acme_client.get(f"/usage/meters/calls_by_region/export.csv?{query}")
    assert export.status_code == 200
    assert "attachment" in export["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert sum(Decimal(r["value"]) for r in rows) == 52
    assert {r["region"] for r in rows} == {"eu", "us"}
    assert rows[0]["window_start"].endswith("-05:00")  # New York local days
    hourly = acme_client.get("/usage/meters/api_calls/?start=2026-02-14&end=2026-02-14&window=hour")
    assert hourly.context["total"] == "5"
    assert len(hourly.context["chart"].rows) == 24


def test_meter_detail_refuses_a_bad_range_with_a_message(
    world: World, acme_client: Client, frozen_now: object
) -> None:
    page = acme_client.get("/usage/meters/api_calls/?start=2026-02-10&end=2026-02-01")
    assert page.status_code == 400
    assert "The end date is before the start date." in text(page)
    page = acme_client.get("/usage/meters/api_calls/?group=region")
    assert page.status_code == 400


def test_amounts_use_the_currency_exponent() -> None:
    assert money(Decimal("1234"), "JPY") == "1,234 JPY"
    assert money(Decimal("-1.250"), "KWD") == "-1.250 KWD"
    assert format_amount(Decimal("0.00"), "USD") == "0.00"


def test_invoice_detail_lists_its_credit_notes(world: World, acme_client: Client) -> None:
    from invoicing.services.credit_notes import credit_note_create

    line = world.acme_invoice.lines.get(charge_key="api_calls")
    credit_note_create(
        invoice=world.acme_invoice,
        reason="Outage on Jan 12",
        outcome="reduce_amount_due",
        lines={line.pk: Decimal("2.50")},
    )
    page = acme_client.get(f"/usage/invoices/{world.acme_invoice.number}/")
    assert [(n.reason, shown) for n, _reason, _applied, shown in page.context["credit_notes"]] == [
        ("Outage on Jan 12", "2.50 USD")
    ]
    other = acme_client.get(f"/usage/invoices/{world.globex_invoice.number}/")
    assert other.status_code == 404
