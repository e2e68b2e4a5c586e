import pytest

from accounts.models import Customer
from tests.factories import CustomerAliasFactory, CustomerFactory

pytestmark = pytest.mark.django_db


def test_create_and_read_customer(admin_api, read_api):
    response = admin_api.post(
        "/api/v1/customers",
        {
            "external_id": "acme",
            "name": "Acme",
            "email": "ap@acme.example",
            "currency": "eur",
            "timezone": "Europe/Paris",
            "aliases": ["proj_1", "proj_2"],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = read_api.get("/api/v1/customers/acme").json()
    assert body["currency"] == "EUR"
    assert body["timezone"] == "Europe/Paris"
    assert body["aliases"] == ["proj_1", "proj_2"]


def test_external_id_and_aliases_share_one_namespace(admin_api):
    CustomerAliasFactory(alias="proj_1", customer=CustomerFactory(external_id="other"))
    response = admin_api.post(
        "/api/v1/customers", {"external_id": "proj_1", "name": "X"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "identifier_taken"
    assert not Customer.objects.filter(external_id="proj_1").exists()
    response = admin_api.post("/api/v1/customers/other/aliases", {"alias": "other"}, format="json")
    assert response.status_code == 409


def test_duplicate_external_id_is_a_conflict(admin_api):
    CustomerFactory(external_id="acme")
    response = admin_api.post(
        "/api/v1/customers", {"external_id": "acme", "name": "Again"}, format="json"
    )
    assert response.status_code == 409


def test_add_alias(admin_api):
    CustomerFactory(external_id="acme")
    response = admin_api.post("/api/v1/customers/acme/aliases", {"alias": "proj_9"}, format="json")
    assert response.status_code == 201
    assert response.json() == {
        "alias": "proj_9",
        "customer": "acme",
        "created_at": response.json()["created_at"],
    }
    assert admin_api.get("/api/v1/customers/acme").json()["aliases"] == ["proj_9"]


def test_patch_validates_timezone_and_currency(admin_api):
    CustomerFactory(external_id="acme")
    bad = admin_api.patch("/api/v1/customers/acme", {"timezone": "Mars/Olympus"}, format="json")
    assert bad.status_code == 400
    assert "timezone" in bad.json()["error"]["details"]
    ok = admin_api.patch("/api/v1/customers/acme", {"currency": "JPY"}, format="json")
    assert ok.status_code == 200
    assert Customer.objects.get(external_id="acme").currency == "JPY"


def test_patch_cannot_change_external_id(admin_api):
    CustomerFactory(external_id="acme")
    response = admin_api.patch(
        "/api/v1/customers/acme", {"external_id": "x", "name": "N"}, format="json"
    )
    assert response.status_code == 200
    assert Customer.objects.filter(external_id="acme", name="N").exists()


def test_changes_are_recorded_in_history(admin_api):
    CustomerFactory(external_id="acme", email="old@acme.example")
    admin_api.patch("/api/v1/customers/acme", {"email": "new@acme.example"}, format="json")
    history = Customer.objects.get(external_id="acme").history.order_by("history_date")
    assert [h.email for h in history] == ["old@acme.example", "new@acme.example"]


def test_list_is_paginated_with_a_cursor(admin_api):
    for n in range(7):
        CustomerFactory(external_id=f"c{n}")
    seen = []
    url = "/api/v1/customers?limit=3"
    while url:
        page = admin_api.get(url).json()
        assert len(page["results"]) <= 3
        seen += [c["external_id"] for c in page["results"]]
        url = page["next"]
    assert sorted(seen) == [f"c{n}" for n in range(7)]


def test_a_customer_bound_key_cannot_change_invoice_grace_hours(api_client_for):
    customer = CustomerFactory(external_id="acme-grace")
    bound = api_client_for("admin", customer=customer)
    path = "/api/v1/customers/acme-grace"
    refused = bound.patch(path, {"invoice_grace_hours": 0}, format="json")
    assert refused.status_code == 403, refused.content
    customer.refresh_from_db()
    assert customer.invoice_grace_hours is None
    assert bound.patch(path, {"email": "b@acme.example"}, format="json").status_code == 200
