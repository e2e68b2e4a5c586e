"""Back-office flows end somewhere sensible (issue 21, item 5): the dashboard's customer search
opens the 360 page, the refund request lands on the refund's own page, messages in plain words,
and reconciliation can be run now."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client

from accounts.services import staff_user_create
from tests.usage_pages.conftest import World

pytestmark = pytest.mark.django_db
PASSWORD = "staff-password-123"


def staff(role: str, username: str | None = None) -> Client:
    staff_user_create(username=username or f"{role}-1", role=role, password=PASSWORD)
    client = Client()
    assert client.login(username=username or f"{role}-1", password=PASSWORD)
    return client


def _search_form(html: str) -> tuple[str, dict[str, str]]:
    """The dashboard's "Search customers" form: its action and hidden fields."""
    panel = html.split('data-panel="accounts.customer_search"', 1)[1].split("</form>", 1)[0]
    action = re.search(r'action="([^"]*)"', panel)
    assert action is not None
    hidden = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', panel))
    return action.group(1), hidden


def test_dashboard_search_opens_the_customers_360_page(world: World) -> None:
    client = staff("support")
    action, hidden = _search_form(client.get("/admin/").content.decode())
    one = client.get(action, {**hidden, "q": world.globex.external_id})
    assert one.status_code == 302
    assert one["Location"] == f"/admin/accounts/customer/{world.globex.pk}/360/"
    # an invoice number finds its customer too
    by_invoice = client.get(action, {**hidden, "q": world.globex_invoice.number})
    assert by_invoice["Location"] == f"/admin/accounts/customer/{world.globex.pk}/360/"
    # several matches: a list whose names open each 360 page
    several = client.get(action, {**hidden, "q": "e"})
    assert several.status_code == 200
    body = several.content.decode()
    for customer in (world.acme, world.globex):
        assert f'href="/admin/accounts/customer/{customer.pk}/360/"' in body


def _money(text: str) -> Decimal:
    return Decimal(text.replace(",", "").split()[0])


def test_customer_360_cost_so_far_lists_every_charge_and_adds_up(
    world: World, frozen_now: object
) -> None:
    page = staff("support").get(f"/admin/accounts/customer/{world.acme.pk}/360/")
    html = page.content.decode()
    table = html.split('data-testid="c360-cost"', 1)[1].split("</table>", 1)[0]
    body, foot = table.split("<tfoot>", 1)
    costs = re.findall(r'<td class="c360-num">([^<]+)</td>', body)
    names = re.findall(r"<tr><td>([^<]+)</td>", body)
    assert names[0] == "Platform fee"  # the fixed fee is listed, not only usage
    assert "API calls" in names
    shown = re.search(r'data-testid="c360-cost-so-far">([^<]+)<', foot)
    assert shown is not None
    assert sum(_money(c) for c in costs) == _money(shown.group(1))
    after = re.findall(r'<td colspan="3">[^<]+</td><td class="c360-num">([^<]+)</td>', foot)
    total = re.search(r'data-testid="c360-upcoming">([^<]+)<', foot)
    assert total is not None
    assert _money(shown.group(1)) + sum(_money(a) for a in after) == _money(total.group(1))


def test_customer_360_invoices_read_in_the_customers_zone(world: World) -> None:
    html = staff("support").get(f"/admin/accounts/customer/{world.acme.pk}/360/").content.decode()
    invoices = html.split('id="c360-invoices"', 1)[1].split("</table>", 1)[0]
    # January in New York, not "2026-01-01 05:00" UTC
    assert "Jan 1 \u2013 Jan 31, 2026" in invoices
    assert 'title="2026-01-01 05:00 UTC to 2026-02-01 05:00 UTC"' in invoices
    due = world.acme_invoice.due_at
    assert f'title="{due:%Y-%m-%d %H:%M} UTC"' in invoices
