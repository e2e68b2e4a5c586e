"""Invoicing API: pricing preview, invoices, upcoming invoice, credits, key binding."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from invoicing.services.billing import billing_run
from invoicing.services.credits import credit_grant_create
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract
from tests.usage_sources import fixed_usage

pytestmark = pytest.mark.django_db
PREVIEW = "/api/v1/pricing/preview"


def test_preview_graduated_quantity(read_api):
    price = {
        "model": "graduated",
        "tiers": [
            {"up_to": "1000", "unit_amount": "0.01"},
            {"up_to": None, "unit_amount": "0.005"},
        ],
    }
    response = read_api.post(
        PREVIEW, {"currency": "USD", "price": price, "quantity": "1500"}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["amount"] == "12.50"
    assert Decimal(body["amount_unrounded"]) == Decimal("12.5")
    assert [item["units"] for item in body["breakdown"]] == ["1000", "500"]


def test_preview_rounds_once_half_up_per_currency(read_api):
    price = {"model": "per_unit", "unit_amount": "0.015"}
    body = read_api.post(
        PREVIEW, {"currency": "JPY", "price": price, "quantity": "100"}, format="json"
    ).json()
    assert (body["amount"], Decimal(body["amount_unrounded"])) == ("2", Decimal("1.5"))
    price = {"model": "per_unit", "unit_amount": "0.005"}
    body = read_api.post(
        PREVIEW, {"currency": "USD", "price": price, "quantity": "1"}, format="json"
    ).json()
    assert body["amount"] == "0.01"
    body = read_api.post(
        PREVIEW, {"currency": "KWD", "price": price, "quantity": "1"}, format="json"
    ).json()
    assert body["amount"] == "0.005"


def test_preview_percentage_per_event(read_api):
    price = {"model": "percentage", "rate": "2.9", "fixed_amount": "0.30"}
    events = [{"value": "100.00", "properties": {}}, {"value": "10.00", "properties": {}}]
    response = read_api.post(
        PREVIEW, {"currency": "USD", "price": price, "events": events}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["amount"] == "3.79"  # 2.90 + 0.30 + 0.29 + 0.30
    assert len(body["breakdown"]) == 2


def test_preview_invalid_spec_is_a_400_in_the_error_shape(read_api):
    price = {"model": "graduated", "tiers": [{"up_to": "10", "unit_amount": "1"}]}
    response = read_api.post(
        PREVIEW, {"currency": "USD", "price": price, "quantity": "5"}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_price"
    assert any(key.startswith("price.tiers") for key in error["details"])


def test_preview_refuses_json_floats_and_needs_one_input(read_api):
    price = {"model": "per_unit", "unit_amount": "0.01"}
    response = read_api.post(
        PREVIEW, {"currency": "USD", "price": price, "quantity": 1.5}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_decimal"
    response = read_api.post(PREVIEW, {"currency": "USD", "price": price}, format="json")
    assert response.json()["error"]["code"] == "validation_error"


def test_preview_needs_an_api_key(client):
    assert client.post(PREVIEW, {}, content_type="application/json").status_code in (401, 403)


def _billed_customer():
    customer = CustomerFactory(external_id="acme", name="Acme")
    make_contract(customer)
    billing_run(now=datetime(2026, 2, 3, tzinfo=UTC), usage=fixed_usage({"api_calls": 1000}))
    return customer


def test_invoice_list_and_detail(read_api):
    _billed_customer()
    body = read_api.get("/api/v1/customers/acme/invoices").json()
    assert [inv["number"] for inv in body["results"]] == ["INV-000001"]
    detail = read_api.get("/api/v1/invoices/INV-000001").json()
    assert detail["total"] == "110.00"
    assert detail["status"] == "finalized"
    assert [line["amount"] for line in detail["lines"]] == ["100.00", "10.00"]
    assert detail["lines"][1]["meter"] == "api_calls"


def test_bound_key_sees_only_its_customer(api_client_for):
    _billed_customer()
    other = CustomerFactory(external_id="globex")
    client = api_client_for("read", customer=other)
    assert client.get("/api/v1/invoices/INV-000001").status_code == 404
    assert client.get("/api/v1/customers/acme/invoices").status_code == 404
    assert client.get("/api/v1/customers/acme/credits").status_code == 404
    assert client.get("/api/v1/customers/globex/invoices").json()["results"] == []


def usage_250_calls():
    return fixed_usage({"api_calls": 250})


def test_upcoming_invoice_uses_the_billing_computation(read_api, settings):
    customer = CustomerFactory(external_id="acme", name="Acme")
    make_contract(customer)
    settings.INVOICING_USAGE_SOURCE = f"{__name__}.usage_250_calls"
    with time_machine.travel(datetime(2026, 3, 10, 12, tzinfo=UTC), tick=False):
        body = read_api.get("/api/v1/customers/acme/invoices/upcoming").json()
    assert body["period_start"] == "2026-03-01T00:00:00Z"
    assert body["period_end"] == "2026-04-01T00:00:00Z"
    assert body["total"] == "102.50"
    assert [line["kind"] for line in body["lines"]] == ["fixed", "usage"]


def test_upcoming_without_contract_is_404(read_api):
    CustomerFactory(external_id="acme")
    response = read_api.get("/api/v1/customers/acme/invoices/upcoming")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_credits_endpoint_lists_ledger_and_balance(read_api):
    customer = _billed_customer()
    credit_grant_create(
        customer=customer,
        kind="promotional",
        amount="25.00",
        currency="USD",
        effective_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    body = read_api.get("/api/v1/customers/acme/credits").json()
    assert body["balances"] == {"USD": "25.00"}
    grant = body["grants"][0]
    assert (grant["amount"], grant["balance"]) == ("25.00", "25.00")
    assert [e["kind"] for e in grant["entries"]] == ["grant"]
