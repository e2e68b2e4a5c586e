"""Back-office flows end somewhere sensible (issue 21, item 5): the dashboard's customer search
opens the 360 page, the refund request lands on the refund's own page, messages in plain words,
and reconciliation can be run now."""

from __future__ import annotations

import re

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
