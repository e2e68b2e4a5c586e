"""Back office: Customer 360 (sections registry, permissions), support search, the usage-page
buttons, Explain this charge, and invoicing's dashboard panels."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client, RequestFactory

from accounts.customer360.registry import register_section, unregister_section
from accounts.customer360.search import customers_matching
from accounts.models import UsageLink, UsagePageSignIn
from accounts.services import customer_alias_add, staff_user_create
from invoicing import dashboard
from invoicing.models import Contract, Payment
from metering.services import rollup_drain
from tests.usage_pages.conftest import World, send

pytestmark = pytest.mark.django_db
PASSWORD = "staff-password-123"


def staff(role: str, username: str | None = None) -> Client:
    staff_user_create(username=username or f"{role}-1", role=role, password=PASSWORD)
    client = Client()
    assert client.login(username=username or f"{role}-1", password=PASSWORD)
    return client


def text(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_support_sees_every_section_with_the_customers_data(
    world: World, frozen_now: object, api_client_for
) -> None:
    customer_alias_add(customer=world.acme, alias="proj_acme_42")
    page = staff("support").get(f"/admin/accounts/customer/{world.acme.pk}/360/")
    assert page.status_code == 200
    keys = [
        item.section.key
        for item in page.context["sections"]
        if item.section.key.startswith(("accounts.", "invoicing."))
    ]  # disputes adds more
    assert keys == [
        "accounts.profile",
        "invoicing.contracts",
        "invoicing.usage",
        "invoicing.invoices",
        "invoicing.payments",
        "invoicing.collections",
        "invoicing.credits",
        "invoicing.credit_purchases",
        "accounts.contacts",
        "accounts.usage_access",
        "accounts.audit",
    ]
    assert not any(item.failed for item in page.context["sections"])
    body = text(page)
    assert "proj_acme_42" in body
    assert world.acme_invoice.number in body
    assert world.globex_invoice.number not in body
    upcoming = api_client_for("read").get("/api/v1/customers/acme/invoices/upcoming").json()
    assert f"Upcoming invoice so far {upcoming['total']} USD" in body


def test_360_needs_view_customer(world: World) -> None:
    User.objects.create_user("nobody", password=PASSWORD, is_staff=True)
    client = Client()
    client.login(username="nobody", password=PASSWORD)
    assert client.get(f"/admin/accounts/customer/{world.acme.pk}/360/").status_code == 403
    assert client.get("/admin/accounts/customer/search/?q=acme").status_code == 403
    assert Client().get(f"/admin/accounts/customer/{world.acme.pk}/360/").status_code == 302


@pytest.fixture
def extra_sections() -> Iterator[list[str]]:
    keys: list[str] = []
    yield keys
    for key in keys:
        unregister_section(key)


def test_a_failing_section_does_not_take_the_page_down_and_permissions_filter(
    world: World, extra_sections: list[str]
) -> None:
    def broken(request: object, customer: object) -> dict[str, object]:
        raise RuntimeError("boom")

    register_section("test.broken", "Broken", broken, template="admin/customer_360/audit.html")
    register_section(
        "test.admin_only",
        "Secret",
        lambda r, c: {},
        template="admin/customer_360/audit.html",
        permissions=["accounts.delete_customer"],
    )
    extra_sections += ["test.broken", "test.admin_only"]
    page = staff("support").get(f"/admin/accounts/customer/{world.acme.pk}/360/")
    assert page.status_code == 200
    by_key = {item.section.key: item for item in page.context["sections"]}
    assert by_key["test.broken"].failed
    assert "test.admin_only" not in by_key
    assert "This section could not be loaded" in text(page)


def test_search_by_name_id_alias_email_invoice_number_and_stripe_ids(world: World) -> None:
    customer_alias_add(customer=world.globex, alias="proj_gx")
    Payment.objects.create(
        customer=world.globex,
        invoice=world.globex_invoice,
        stripe_charge_id="ch_3Qxyz",
        stripe_payment_intent_id="pi_3Qxyz",
        currency="USD",
        amount=Decimal("1.00"),
    )
    for term in (
        "Globex",
        "globex",
        "proj_gx",
        "billing@globex.example",
        world.globex_invoice.number,
        "ch_3Qxyz",
        "pi_3Qxyz",
    ):
        assert list(customers_matching(term)) == [world.globex], term
    assert list(customers_matching("")) == []
    client = staff("support")
    listed = client.get(f"/admin/accounts/customer/?q={world.globex_invoice.number}")
    assert [c.pk for c in listed.context["cl"].result_list] == [world.globex.pk]
    found = client.get("/admin/accounts/customer/search/?q=proj_gx&go=1")
    assert found.status_code == 302
    assert found["Location"] == f"/admin/accounts/customer/{world.globex.pk}/360/"


def test_open_usage_pages_as_the_customer_is_read_only_and_logged(world: World) -> None:
    client = staff("support", "sam")
    url = f"/admin/accounts/customer/{world.acme.pk}/open-usage-pages/"
    assert client.get(url).status_code == 405
    response = client.post(url)
    assert response.status_code == 302 and response["Location"].startswith("/usage/l/")
    link = UsageLink.objects.get()
    assert (link.purpose, link.created_by.username, link.customer) == ("staff", "sam", world.acme)
    assert link.expires_at - link.created_at <= timedelta(hours=1, seconds=1)
    page = client.get(response["Location"], REMOTE_ADDR="10.0.0.9")
    assert page.status_code == 200 and page.context["viewer"].is_staff_view
    assert "Staff view · read-only" in text(page)
    entry = UsagePageSignIn.objects.get()
    assert (entry.method, entry.user.username, entry.ip) == ("staff", "sam", "10.0.0.9")


def test_create_usage_link_button_needs_change_customer(world: World) -> None:
    url = f"/admin/accounts/customer/{world.acme.pk}/usage-link/"
    response = staff("support").post(url, follow=True)
    assert "Read-only usage link" in text(response)
    assert UsageLink.objects.filter(purpose="shared", customer=world.acme).count() == 1
    User.objects.create_user("viewer", password=PASSWORD, is_staff=True)
    client = Client()
    client.login(username="viewer", password=PASSWORD)
    assert client.post(url).status_code == 403


def test_explain_this_charge_goes_down_to_usage_rollups_and_events(world: World) -> None:
    line = world.acme_invoice.lines.get(charge_key="api_calls")
    client = staff("support")
    page = client.get(f"/admin/invoicing/invoiceline/{line.pk}/explain/")
    assert page.status_code == 200
    x = page.context["x"]
    assert x.usage_now == line.quantity == 30
    assert x.usage_matches is True
    assert x.rollup_events == 30
    assert len(x.events) == 20 and all(e.customer_id == world.acme.pk for e in x.events)
    assert "Tier 2 (10 – ∞): 20 units × 0.25 + 1 = 6.00 USD" in text(page)
    invoice_page = client.get(f"/admin/invoicing/invoice/{world.acme_invoice.pk}/change/")
    assert f"/admin/invoicing/invoiceline/{line.pk}/explain/" in invoice_page.content.decode()
    send("acme", "late", 2, world.acme_invoice.period_start + timedelta(days=3))
    rollup_drain()
    late = client.get(f"/admin/invoicing/invoiceline/{line.pk}/explain/").context["x"]
    assert late.usage_now == 32 and late.usage_matches is False


def test_finance_and_support_dashboard_panels(world: World, frozen_now: object) -> None:
    request = RequestFactory().get("/admin/")
    revenue = dashboard.revenue_this_month(request)
    total = world.acme_invoice.total + world.globex_invoice.total
    assert [row.label for row in revenue] == [dashboard.money(total, "USD")]
    Contract.objects.filter(customer=world.globex).update(end_date="2026-03-01")
    renewing = dashboard.contracts_renewing(request)
    assert [row.label for row in renewing] == [str(world.globex)]
    assert renewing[0].badge == "14 d"
    Payment.objects.create(
        customer=world.acme,
        stripe_charge_id="ch_fail",
        currency="USD",
        amount=Decimal("115.63"),
        status="failed",
        failure_message="Your card was declined.",
    )
    failed = dashboard.failed_payments(request)
    assert len(failed) == 1 and "Your card was declined." in failed[0].detail
