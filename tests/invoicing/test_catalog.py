"""Catalog: charges validated with clear errors, versions numbered, plans/contracts API."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from billingsite.errors import AppError
from invoicing.models import Charge, Contract
from invoicing.services.catalog import plan_create, plan_version_create
from tests.factories import CustomerFactory
from tests.invoicing.factories import API_CALLS, PLATFORM_FEE, make_version

pytestmark = pytest.mark.django_db


def test_versions_are_numbered_and_prices_stored_canonically():
    first = make_version()
    second = make_version([{**PLATFORM_FEE, "price": {"model": "flat", "amount": 100}}])
    assert (first.version, second.version) == (1, 2)
    assert second.charges.get().price == {"model": "flat", "amount": "100"}


@pytest.mark.parametrize(
    "charge,field,fragment",
    [
        ({**API_CALLS, "price": {"model": "per_unit", "unit_amount": 0.01}}, "charges[0]", "float"),
        ({**API_CALLS, "meter_key": ""}, "charges[0]", "meter"),
        (
            {**PLATFORM_FEE, "price": {"model": "per_unit", "unit_amount": "1"}},
            "charges[0]",
            "flat",
        ),
        ({**API_CALLS, "price": {"model": "flat", "amount": "1"}}, "charges[0]", "fixed"),
    ],
)
def test_invalid_charges_are_refused_with_the_reason(charge, field, fragment):
    plan = plan_create(key="bad", name="Bad")
    with pytest.raises(AppError) as caught:
        plan_version_create(plan=plan, charges=[charge])
    assert caught.value.code == "invalid_plan_version"
    assert fragment in str(caught.value.details[field])
    assert not Charge.objects.exists()


def test_model_clean_validates_the_spec_for_admin_forms():
    version = make_version([])
    charge = Charge(
        plan_version=version,
        key="x",
        name="X",
        kind="usage",
        meter_key="m",
        price={"model": "graduated", "tiers": []},
    )
    with pytest.raises(ValidationError) as caught:
        charge.full_clean()
    assert "price" in caught.value.message_dict


def test_plans_api_create_and_list(admin_api, read_api):
    body = {
        "key": "growth",
        "name": "Growth",
        "currency": "EUR",
        "cadence": "monthly",
        "charges": [PLATFORM_FEE, API_CALLS],
    }
    response = admin_api.post("/api/v1/plans", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["versions"][0]["charges"][1]["price"]["unit_amount"] == "0.01"
    assert read_api.post("/api/v1/plans", body, format="json").status_code == 403
    listed = read_api.get("/api/v1/plans").json()["results"]
    assert [p["key"] for p in listed] == ["growth"]
    bad = admin_api.post(
        "/api/v1/plans",
        {**body, "key": "bad", "charges": [{**API_CALLS, "price": {"model": "per_unit"}}]},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_plan_version"
    assert [p["key"] for p in read_api.get("/api/v1/plans").json()["results"]] == ["growth"]


def test_contracts_api_create_checks_currency_and_lists_for_bound_keys(admin_api, api_client_for):
    make_version(key="pro", currency="USD")
    CustomerFactory(external_id="acme", currency="USD", timezone="Europe/Berlin")
    eur = CustomerFactory(external_id="euro", currency="EUR")
    response = admin_api.post(
        "/api/v1/contracts",
        {"customer": "acme", "plan": "pro", "start_date": "2026-01-31"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    created = response.json()
    assert (created["billing_anchor_day"], created["timezone"]) == (31, "Europe/Berlin")
    mismatch = admin_api.post(
        "/api/v1/contracts",
        {"customer": "euro", "plan": "pro", "start_date": "2026-01-01"},
        format="json",
    )
    assert mismatch.json()["error"]["code"] == "currency_mismatch"
    bound = api_client_for("read", customer=eur)
    assert bound.get("/api/v1/contracts").json()["results"] == []
    assert bound.get("/api/v1/contracts?customer=acme").status_code == 404
    assert Contract.objects.count() == 1
