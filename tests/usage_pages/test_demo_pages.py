"""The usage pages and the Customer 360 page on the demo data (what `bin/tally run` shows):
every demo customer's pages render, and stark's credit/commit burn-down matches its ledger."""

from __future__ import annotations

import io

import pytest
from django.test import Client

from accounts import demo as accounts_demo
from accounts.models import Customer
from accounts.portal.services import usage_link_create
from accounts.services import staff_user_create
from invoicing import demo as invoicing_demo
from invoicing.selectors.credits import grant_balance
from metering import demo as metering_demo
from tests.planner import analyze_tables

# Renders every page of the whole demo (minutes on 2 cores): `-m "not slow"` skips it.
pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def test_every_demo_customers_pages_render() -> None:
    for seed in (accounts_demo.seed, metering_demo.seed, invoicing_demo.seed):
        seed(io.StringIO())
    analyze_tables()
    client = Client()
    assert client.login(username="acme-user", password="demo-customer-password")
    assert client.get("/usage/").status_code == 200
    staff_user_create(username="s", role="support", password="pw-1234567890")
    staff = Client()
    staff.login(username="s", password="pw-1234567890")
    for customer in Customer.objects.all():
        base = f"/usage/l/{usage_link_create(customer=customer).token}/"
        overview = client.get(base)
        assert overview.status_code == 200, customer
        for row in overview.context.get("grants") or []:
            assert row["g"].grant.balance == grant_balance(row["g"].grant.pk)
        if customer.external_id == "stark":  # prepaid commit and credit grants
            assert overview.context["grants"] and overview.context["commits"]
        listed = client.get(f"{base}invoices/")
        for row in listed.context["invoices"][:2]:
            assert client.get(f"{base}invoices/{row['inv'].number}/").status_code == 200
        page = staff.get(f"/admin/accounts/customer/{customer.pk}/360/")
        assert page.status_code == 200
        assert not [s.section.key for s in page.context["sections"] if s.failed], customer
