"""Customer pages use the customer's words (issue 21, item 8): credit notes say how they were
applied, without our refund numbers; counted meters forecast whole numbers; the meter page
says when there is nothing to group by; footers say what each page shows."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from django.test import Client

from invoicing.services.credit_notes import credit_note_create
from invoicing.services.invoices import invoice_mark_paid
from tests.usage_pages.conftest import NOW, World


def text(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_a_refund_credit_note_reads_in_customer_words(world: World, acme_client: Client) -> None:
    invoice = world.acme_invoice
    invoice_mark_paid(invoice=invoice, now=NOW)
    line = invoice.lines.get(charge_key="api_calls")
    credit_note_create(
        invoice=invoice,
        reason="Refund #4711: Service issue. Outage on Jan 12",
        outcome="refund",
        lines={line.pk: Decimal("2.50")},
    )
    page = text(acme_client.get(f"/usage/invoices/{invoice.number}/"))
    assert "Refunded to your payment method" in page
    assert "Service issue. Outage on Jan 12" in page
    assert "Feed a refund" not in page and "#4711" not in page


def test_counted_meters_forecast_whole_numbers(
    world: World, acme_client: Client, frozen_now: object
) -> None:
    page = acme_client.get("/usage/")
    rows = {row["c"].charge_key: row for row in page.context["charges"]}
    for key in ("api_calls", "regional"):  # both meters count events
        shown = rows[key]["forecast_quantity"]
        assert re.fullmatch(r"[\d,]+", shown), (key, shown)
        exact = rows[key]["c"].forecast_quantity
        assert Decimal(shown.replace(",", "")) == exact.quantize(Decimal(1), ROUND_HALF_UP)


def test_meter_page_says_when_there_is_nothing_to_group_by(
    world: World, acme_client: Client, frozen_now: object
) -> None:
    plain = acme_client.get("/usage/meters/api_calls/?start=2026-02-01&end=2026-02-14")
    assert "This meter has no dimensions to group by" in text(plain)
    grouped = acme_client.get("/usage/meters/calls_by_region/?start=2026-02-01&end=2026-02-14")
    assert "no dimensions to group by" not in text(grouped)
    assert "Group by" in text(grouped)


def test_footers_say_what_each_page_shows(
    world: World, acme_client: Client, frozen_now: object
) -> None:
    def footer(url: str) -> str:
        html = acme_client.get(url).content.decode()
        found = re.search(r'<footer[^>]*data-testid="footer"[^>]*>(.*?)</footer>', html, re.S)
        assert found is not None, url
        return re.sub(r"\s+", " ", found.group(1))

    overview = footer("/usage/")
    assert "current period" in overview and "America/New_York" in overview
    assert "Amounts in the invoice's currency" not in overview
    meter = footer("/usage/meters/api_calls/?start=2026-02-01&end=2026-02-14")
    assert "API calls per day from Feb 1, 2026 to Feb 14, 2026" in meter
    assert "Your issued invoices" in footer("/usage/invoices/")
    assert world.acme_invoice.number in footer(f"/usage/invoices/{world.acme_invoice.number}/")


def test_invoice_dates_read_in_the_customers_zone(world: World, acme_client: Client) -> None:
    html = acme_client.get("/usage/invoices/").content.decode()
    issued = world.acme_invoice.issued_at
    assert f'title="{issued:%Y-%m-%d %H:%M} UTC"' in html
