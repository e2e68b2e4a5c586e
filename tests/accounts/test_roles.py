"""Role permissions as DESIGN.md section 9 describes, enforced in the admin."""

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command

from accounts.models import Customer
from accounts.roles import ADMIN, FINANCE, SUPPORT
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def staff(role: str) -> User:
    call_command(
        "create_staff_user",
        "--username",
        f"u-{role}",
        "--role",
        role,
        "--password",
        "pw-long-enough-1",
    )
    return User.objects.get(username=f"u-{role}")


def test_groups_exist_after_migrate():
    assert set(Group.objects.values_list("name", flat=True)) >= {SUPPORT, FINANCE, ADMIN}


def test_create_staff_user_puts_user_in_exactly_one_role():
    user = staff("finance")
    assert user.is_staff and not user.is_superuser
    assert list(user.groups.values_list("name", flat=True)) == [FINANCE]
    call_command(
        "create_staff_user",
        "--username",
        "u-finance",
        "--role",
        "support",
        "--password",
        "pw-long-enough-2",
    )
    user.refresh_from_db()
    assert list(user.groups.values_list("name", flat=True)) == [SUPPORT]
    assert user.check_password("pw-long-enough-2")


def _change_form(client, customer, **overrides):
    data = {
        "name": customer.name,
        "email": customer.email,
        "status": customer.status,
        "currency": customer.currency,
        "timezone": customer.timezone,
        "tax_id": "",
        "address_line1": "",
        "address_line2": "",
        "city": "",
        "state": "",
        "postal_code": "",
        "country": "",
        "invoice_grace_hours": "",
        "aliases-TOTAL_FORMS": "0",
        "aliases-INITIAL_FORMS": "0",
        "contacts-TOTAL_FORMS": "0",
        "contacts-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return client.post(f"/admin/accounts/customer/{customer.pk}/change/", data)


def test_support_cannot_change_currency_but_can_change_email(client):
    customer = CustomerFactory(external_id="acme", currency="USD")
    client.force_login(staff("support"))
    response = _change_form(client, customer, currency="EUR", email="new@acme.example")
    assert response.status_code == 302, response.content[:2000]
    customer.refresh_from_db()
    assert customer.currency == "USD"
    assert customer.email == "new@acme.example"


def test_finance_can_change_currency(client):
    customer = CustomerFactory(external_id="acme", currency="USD")
    client.force_login(staff("finance"))
    response = _change_form(client, customer, currency="EUR")
    assert response.status_code == 302, response.content[:2000]
    assert Customer.objects.get(pk=customer.pk).currency == "EUR"


def test_support_cannot_change_invoice_grace_hours_but_finance_can(client):
    """The grace hours decide when a customer's invoices finalize: Finance only."""
    customer = CustomerFactory(external_id="acme", invoice_grace_hours=None)
    client.force_login(staff("support"))
    page = client.get(f"/admin/accounts/customer/{customer.pk}/change/")
    assert 'name="invoice_grace_hours"' not in page.content.decode()
    response = _change_form(client, customer, invoice_grace_hours="2", email="s@acme.example")
    assert response.status_code == 302, response.content[:2000]
    customer.refresh_from_db()
    assert (customer.invoice_grace_hours, customer.email) == (None, "s@acme.example")

    client.force_login(staff("finance"))
    response = _change_form(client, customer, invoice_grace_hours="2")
    assert response.status_code == 302, response.content[:2000]
    customer.refresh_from_db()
    assert customer.invoice_grace_hours == 2


def test_support_cannot_see_api_keys_or_add_customers(client):
    client.force_login(staff("support"))
    assert client.get("/admin/accounts/apikey/").status_code == 403
    assert client.get("/admin/accounts/customer/add/").status_code == 403
    assert client.get("/admin/accounts/customer/").status_code == 200


def test_admin_role_sees_api_keys(client):
    client.force_login(staff("admin"))
    assert client.get("/admin/accounts/apikey/").status_code == 200


def test_admin_creates_api_key_and_sees_it_once(client):
    client.force_login(staff("admin"))
    response = client.post(
        "/admin/accounts/apikey/add/",
        {"name": "from-admin", "scope": "read", "customer": ""},
        follow=True,
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    key = next(m.split(": ")[-1] for m in shown if "Copy this key" in m)
    from accounts.services import api_key_authenticate

    assert api_key_authenticate(key).name == "from-admin"


@pytest.mark.django_db(transaction=True)
def test_groups_survive_a_database_flush():
    """Transactional tests flush the database; the role groups must come back complete."""
    from django.core.management import call_command as run

    run("flush", "--no-input", verbosity=0)
    finance = Group.objects.get(name=FINANCE)
    assert finance.permissions.filter(codename="change_customer_billing_terms").exists()
    assert Group.objects.get(name=SUPPORT).permissions.filter(codename="view_customer").exists()
