import hashlib
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services import (
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
    staff_user_create,
)
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_key_is_stored_only_as_a_digest():
    issued = api_key_create(name="ci", scope="read")
    stored = ApiKey.objects.get(pk=issued.api_key.pk)
    assert issued.plaintext not in (stored.digest, stored.prefix, stored.name)
    assert stored.digest == hashlib.sha256(issued.plaintext.encode()).hexdigest()
    assert api_key_authenticate(issued.plaintext) == stored


def test_wrong_secret_with_a_real_prefix_is_refused():
    issued = api_key_create(name="ci", scope="read")
    tampered = issued.plaintext[:-2] + ("AA" if not issued.plaintext.endswith("AA") else "BB")
    assert api_key_authenticate(tampered) is None


@pytest.mark.parametrize(
    ("scope", "method", "path", "expected"),
    [
        ("read", "get", "/api/v1/customers", 200),
        ("read", "post", "/api/v1/customers", 403),
        ("ingest", "get", "/api/v1/customers", 403),
        ("ingest", "post", "/api/v1/customers", 403),
        ("admin", "get", "/api/v1/customers", 200),
        ("admin", "post", "/api/v1/customers", 201),
    ],
)
def test_scopes(api_client_for, scope, method, path, expected):
    client = api_client_for(scope)
    body = {"external_id": "new-co", "name": "New Co"} if method == "post" else None
    response = getattr(client, method)(path, body, format="json")
    assert response.status_code == expected, response.content
    if expected == 403:
        assert response.json()["error"]["code"] == "permission_denied"


def test_customer_bound_key_sees_only_its_customer(api_client_for):
    a = CustomerFactory(external_id="cust-a")
    CustomerFactory(external_id="cust-b")
    client = api_client_for("admin", customer=a)

    assert client.get("/api/v1/customers/cust-a").status_code == 200
    other = client.get("/api/v1/customers/cust-b")
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "not_found"
    assert client.patch("/api/v1/customers/cust-b", {"name": "x"}, format="json").status_code == 404
    listed = client.get("/api/v1/customers").json()["results"]
    assert [c["external_id"] for c in listed] == ["cust-a"]
    created = client.post("/api/v1/customers", {"external_id": "c", "name": "C"}, format="json")
    assert created.status_code == 403


def test_revoked_key_is_refused():
    issued = api_key_create(name="old", scope="read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    assert client.get("/api/v1/customers").status_code == 200
    api_key_revoke(api_key=issued.api_key)
    response = client.get("/api/v1/customers")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_revoking_records_who_and_when_in_the_key_history():
    issued = api_key_create(name="leaked", scope="read")
    admin = staff_user_create(username="revoker", role="admin", password="revoker-password-1")
    api_key_revoke(api_key=issued.api_key, actor=admin)
    api_key_revoke(api_key=issued.api_key, actor=admin)  # again: nothing changes
    key = ApiKey.objects.get(pk=issued.api_key.pk)
    assert key.revoked_at is not None
    latest = key.history.order_by("-history_id").first()
    assert (latest.revoked_at, latest.history_user) == (key.revoked_at, admin)
    assert key.history.exclude(revoked_at=None).count() == 1


def test_missing_and_malformed_credentials():
    client = APIClient()
    assert client.get("/api/v1/customers").json()["error"]["code"] == "not_authenticated"
    client.credentials(HTTP_AUTHORIZATION="Token abc")
    assert client.get("/api/v1/customers").status_code == 401


def test_last_used_is_recorded_at_most_once_a_minute():
    issued = api_key_create(name="ci", scope="read")
    assert issued.api_key.last_used_at is None
    api_key_authenticate(issued.plaintext)
    first = ApiKey.objects.get(pk=issued.api_key.pk).last_used_at
    assert first is not None
    api_key_authenticate(issued.plaintext)
    assert ApiKey.objects.get(pk=issued.api_key.pk).last_used_at == first
    # Five minutes on (the key is now served from the lookup cache): recorded again.
    with time_machine.travel(timezone.now() + timedelta(minutes=5), tick=False):
        api_key_authenticate(issued.plaintext)
    assert ApiKey.objects.get(pk=issued.api_key.pk).last_used_at > first


def test_create_api_key_command_prints_key_alone_on_last_line(capsys):
    CustomerFactory(external_id="bound-co")
    call_command("create_api_key", "--name", "cli", "--scope", "read", "--customer", "bound-co")
    out = capsys.readouterr().out.strip().splitlines()
    key = out[-1]
    assert key.startswith("tly_") and " " not in key
    found = api_key_authenticate(key)
    assert found is not None and found.customer.external_id == "bound-co"
    assert found.scope == "read"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("currency", "EUR"),
        ("tax_id", "DE123456789"),
        ("timezone", "Asia/Kolkata"),
        ("country", "DE"),
        ("status", "archived"),
        ("invoice_grace_hours", 0),
    ],
)
def test_bound_key_cannot_change_its_customers_billing_terms(api_client_for, field, value):
    """Currency, tax id, time zone, country, status and grace hours decide what is billed, when
    and with which tax: the operator's, not the customer's own key's (docs/finance-api.md)."""
    a = CustomerFactory(external_id="cust-a", currency="USD", tax_id="", country="US")
    before = {name: getattr(a, name) for name in ("currency", "tax_id", "timezone", "status")}
    client = api_client_for("admin", customer=a)
    refused = client.patch("/api/v1/customers/cust-a", {field: value}, format="json")
    assert refused.status_code == 403, refused.content
    assert refused.json()["error"]["code"] == "bound_key_forbidden"
    assert field in refused.json()["error"]["message"]
    a.refresh_from_db()
    assert {name: getattr(a, name) for name in before} == before
    # mixed with a contact field: refused as a whole, nothing written
    mixed = client.patch("/api/v1/customers/cust-a", {"name": "Z", field: value}, format="json")
    assert mixed.status_code == 403
    a.refresh_from_db()
    assert a.name != "Z"
    # an unbound admin key may
    assert (
        api_client_for("admin")
        .patch("/api/v1/customers/cust-a", {field: value}, format="json")
        .status_code
        == 200
    )


def test_bound_key_may_change_its_customers_contact_details(api_client_for):
    a = CustomerFactory(external_id="cust-a")
    client = api_client_for("admin", customer=a)
    contact = {"name": "Acme GmbH", "email": "ap@acme.test", "city": "Berlin", "postal_code": "1"}
    answer = client.patch("/api/v1/customers/cust-a", contact, format="json")
    assert answer.status_code == 200, answer.content
    assert {k: answer.json()[k] for k in contact} == contact


def test_every_bound_key_refusal_has_one_code(api_client_for):
    """Creating a customer, a plan, a meter; reading billing runs and exports: one code."""
    a = CustomerFactory(external_id="cust-a")
    client = api_client_for("admin", customer=a)
    for method, path, body in (
        ("post", "/api/v1/customers", {"external_id": "c", "name": "C"}),
        ("get", "/api/v1/billing-runs", None),
        ("get", "/api/v1/webhook-endpoints", None),
    ):
        response = getattr(client, method)(path, body, format="json")
        assert response.status_code == 403, (path, response.content)
        assert response.json()["error"]["code"] == "bound_key_forbidden", path
