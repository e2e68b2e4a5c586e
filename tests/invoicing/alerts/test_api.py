"""/api/v1/alerts: create, list, read, change, delete, triggers; scopes and customer binding."""

from __future__ import annotations

import pytest
import time_machine
from django.test import Client

from accounts.services import api_key_create
from invoicing.alerts.models import Alert
from invoicing.alerts.services import alerts_evaluate_pending
from tests.factories import CustomerFactory
from tests.invoicing.alerts.world import at, customer_on_plan, send

pytestmark = pytest.mark.django_db


def client(scope: str = "admin", customer=None) -> Client:
    key = api_key_create(name=f"k-{scope}", scope=scope, customer=customer).plaintext
    return Client(HTTP_AUTHORIZATION=f"Bearer {key}")


USAGE = {
    "name": "10 calls",
    "type": "usage_threshold",
    "customer": "acme",
    "meter": "api_calls",
    "thresholds": [{"value": "10"}, {"value": "100", "recurring": True}],
}


def test_create_list_patch_triggers_delete():
    with time_machine.travel(at(2026, 1, 15, 12), tick=False):
        customer_on_plan()
        admin = client()
        created = admin.post("/api/v1/alerts", USAGE, content_type="application/json")
        assert created.status_code == 201, created.json()
        alert_id = created.json()["id"]
        assert created.json()["thresholds"] == [
            {"value": "10", "recurring": False},
            {"value": "100", "recurring": True},
        ]
        send("acme", 12, at(2026, 1, 15, 11))
        alerts_evaluate_pending()
        reader = client("read")
        assert [a["id"] for a in reader.get("/api/v1/alerts").json()["results"]] == [alert_id]
        triggers = reader.get(f"/api/v1/alerts/{alert_id}/triggers").json()["results"]
        assert [(t["threshold_index"], t["step"], t["value"]) for t in triggers] == [(0, 1, "12")]
        assert (
            reader.patch(
                f"/api/v1/alerts/{alert_id}", {"enabled": False}, content_type="application/json"
            ).status_code
            == 403
        )
        patched = admin.patch(
            f"/api/v1/alerts/{alert_id}", {"enabled": False}, content_type="application/json"
        )
        assert patched.status_code == 200 and patched.json()["enabled"] is False
        assert Alert.history.filter(id=alert_id).count() == 2
        assert admin.delete(f"/api/v1/alerts/{alert_id}").status_code == 204
        assert admin.get(f"/api/v1/alerts/{alert_id}").status_code == 404


def test_invalid_combinations_answer_in_the_error_shape():
    customer_on_plan()
    admin = client()
    no_meter = {**USAGE, "meter": None}
    del no_meter["meter"]
    answer = admin.post("/api/v1/alerts", no_meter, content_type="application/json")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "alert_invalid"
    both = {**USAGE, "plan": "pro"}
    assert admin.post("/api/v1/alerts", both, content_type="application/json").status_code == 400
    recurring_balance = {
        "name": "low",
        "type": "credit_balance_below",
        "customer": "acme",
        "currency": "USD",
        "thresholds": [{"value": "5", "recurring": True}],
    }
    answer = admin.post("/api/v1/alerts", recurring_balance, content_type="application/json")
    assert answer.status_code == 400
    too_many = {**USAGE, "thresholds": [{"value": str(i + 1)} for i in range(11)]}
    assert (
        admin.post("/api/v1/alerts", too_many, content_type="application/json").status_code == 400
    )


def test_a_bound_key_sees_and_writes_only_its_customer():
    acme, _ = customer_on_plan()
    beta = CustomerFactory(external_id="beta")
    admin = client()
    beta_alert = admin.post(
        "/api/v1/alerts", {**USAGE, "customer": "beta"}, content_type="application/json"
    ).json()["id"]
    bound = client("admin", customer=acme)
    assert bound.get(f"/api/v1/alerts/{beta_alert}").status_code == 404
    assert bound.get("/api/v1/alerts").json()["results"] == []
    answer = bound.post(
        "/api/v1/alerts", {**USAGE, "customer": "beta"}, content_type="application/json"
    )
    assert answer.status_code == 404
    plan_wide = {**USAGE, "plan": "pro"}
    del plan_wide["customer"]
    assert (
        bound.post("/api/v1/alerts", plan_wide, content_type="application/json").status_code == 403
    )
    assert bound.post("/api/v1/alerts", USAGE, content_type="application/json").status_code == 201
    assert Alert.objects.filter(customer=beta).count() == 1
