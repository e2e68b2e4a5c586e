"""The admin home dashboard registry: who sees which panel, and what the panels show."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.test import Client, RequestFactory

from accounts.dashboard import recently_changed_customers
from accounts.models import Customer
from accounts.roles import ADMIN, FINANCE, SUPPORT
from accounts.services import customer_create, customer_update, staff_user_create
from billingsite import dashboard
from billingsite.dashboard import Row, panels_for, register_panel, roles_of, unregister_panel

pytestmark = pytest.mark.django_db
PASSWORD = "dashboard-test-password-1"


def _request(user: User):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def _panel_keys(user: User) -> dict[str, list[str]]:
    return {s.role: [p.panel.key for p in s.panels] for s in panels_for(_request(user))}


@pytest.fixture
def temporary_panels() -> Iterator[list[str]]:
    keys: list[str] = []
    yield keys
    for key in keys:
        unregister_panel(key)


def test_roles_come_from_groups_and_superusers_are_admins() -> None:
    support = staff_user_create(username="s", role="support", password=PASSWORD)
    root = User.objects.create_superuser("root", "root@example.com", PASSWORD)
    outsider = User.objects.create_user("x", password=PASSWORD)
    assert roles_of(support) == [SUPPORT]
    assert roles_of(root) == [ADMIN]
    assert roles_of(outsider) == []


def test_each_role_sees_its_panels_and_admins_see_all() -> None:
    support = staff_user_create(username="s", role="support", password=PASSWORD)
    finance = staff_user_create(username="f", role="finance", password=PASSWORD)
    admin = staff_user_create(username="a", role="admin", password=PASSWORD)
    support_panels = [
        "accounts.customer_search",
        "disputes.open_disputes",
        "invoicing.failed_payments",
        "accounts.recent_customer_changes",
        "disputes.my_waiting_refunds",
    ]
    finance_panels = [
        "accounts.customer_search",
        "disputes.refunds_to_approve",
        "accounts.recent_customer_changes",
        "invoicing.contracts_renewing",
        "invoicing.revenue_this_month",
        "reporting.finance",
    ]
    assert _panel_keys(support) == {SUPPORT: support_panels}
    assert _panel_keys(finance) == {FINANCE: finance_panels}
    assert _panel_keys(admin) == {
        SUPPORT: support_panels,
        FINANCE: [
            "disputes.refunds_to_approve",
            "invoicing.contracts_renewing",
            "invoicing.revenue_this_month",
            "reporting.finance",
        ],
        ADMIN: [
            "accounts.api_keys_recent",
            "billingsite.webhooks",
            "billingsite.invariant_runs",
        ],
    }


def test_panel_needs_every_permission_it_names(temporary_panels: list[str]) -> None:
    panel = register_panel(
        (SUPPORT, FINANCE),
        "New customers",
        lambda request: [],
        key="test.needs_add",
        permissions=("accounts.add_customer",),
    )
    temporary_panels.append(panel.key)
    support = staff_user_create(username="s", role="support", password=PASSWORD)
    finance = staff_user_create(username="f", role="finance", password=PASSWORD)
    assert "test.needs_add" not in _panel_keys(support)[SUPPORT]  # Support can't add customers
    assert "test.needs_add" in _panel_keys(finance)[FINANCE]


def test_a_failing_panel_renders_as_an_error_and_the_page_still_works(
    temporary_panels: list[str], client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(request: object) -> list[Row]:
        raise RuntimeError("boom")

    temporary_panels.append(register_panel(SUPPORT, "Broken", broken, key="test.broken").key)
    support = staff_user_create(username="s", role="support", password=PASSWORD)
    rendered = {p.panel.key: p for s in panels_for(_request(support)) for p in s.panels}
    assert rendered["test.broken"].failed and rendered["test.broken"].rows == ()
    assert "dashboard panel failed" in caplog.text

    client.force_login(support)
    response = client.get("/admin/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "This panel could not be loaded." in html
    assert (
        "Find a customer" in html
        and 'placeholder="Name, external id, alias, email or invoice number"' in html
    )


def test_register_panel_rejects_unknown_roles_and_tones() -> None:
    with pytest.raises(ValueError, match="Unknown role"):
        register_panel("Marketing", "x", lambda request: [])
    with pytest.raises(ValueError, match="Unknown tone"):
        Row(label="x", tone="purple")


def test_recently_changed_customers_lists_each_customer_once_newest_first() -> None:
    finance = staff_user_create(username="fran", role="finance", password=PASSWORD)
    acme = customer_create(external_id="acme", name="Acme")
    gone = customer_create(external_id="gone", name="Gone Ltd")
    customer_update(customer=acme, name="Acme Rockets")
    gone.delete()
    # Attribute the newest change to a person, as the admin does through simple_history.
    latest = Customer.history.filter(id=acme.pk).latest("history_id")
    Customer.history.filter(pk=latest.pk).update(history_user=finance)

    rows = recently_changed_customers(_request(finance))
    assert [(r.label, r.badge) for r in rows] == [
        ("Gone Ltd (gone)", "deleted"),
        ("Acme Rockets (acme)", "changed"),
    ]
    assert rows[0].url == ""  # nothing to open for a deleted customer
    assert rows[1].url == f"/admin/accounts/customer/{acme.pk}/change/"
    assert rows[1].detail == "just now by fran"


def test_autodiscover_runs_once() -> None:
    dashboard.autodiscover()
    before = dashboard.registered_panels()
    dashboard.autodiscover()
    assert dashboard.registered_panels() == before
