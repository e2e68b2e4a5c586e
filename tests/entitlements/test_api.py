"""The entitlement API: features, a customer's entitlements, grants as amendments, check,
consume (idempotent), reservations, scopes and customer binding."""

from __future__ import annotations

import pytest

from invoicing.entitlements.models import ContractFeatureOverride
from invoicing.models import ContractAmendment
from metering.models import UsageEvent
from tests.entitlements.builders import metered_setup

pytestmark = pytest.mark.django_db
BASE = "/api/v1/customers/acme"


def test_features_create_and_list(admin_api, read_api):
    body = {"key": "sso", "name": "Single sign-on", "type": "boolean"}
    created = admin_api.post("/api/v1/features", body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["event_type"] == "sso"
    again = admin_api.post("/api/v1/features", body, format="json")
    assert again.status_code == 409
    assert read_api.post("/api/v1/features", body, format="json").status_code == 403
    listed = read_api.get("/api/v1/features").json()
    assert [f["key"] for f in listed["results"]] == ["sso"]


def test_entitlements_read_and_grant_as_amendment(admin_api, read_api):
    metered_setup("20")
    admin_api.post(
        "/api/v1/features", {"key": "tier", "name": "Tier", "type": "config"}, format="json"
    )
    rows = {e["feature"]: e for e in read_api.get(f"{BASE}/entitlements").json()["entitlements"]}
    assert rows["tokens"]["limit"] == "20" and rows["tokens"]["remaining"] == "20"
    assert rows["tokens"]["resets_at"] is not None
    assert (rows["tier"]["enabled"], rows["tier"]["granted_by"]) == (False, "none")
    grant = admin_api.post(
        f"{BASE}/entitlements", {"feature": "tier", "value": "large"}, format="json"
    )
    assert grant.status_code == 201, grant.json()
    assert (grant.json()["value"], grant.json()["enabled"]) == ("large", True)
    raised = admin_api.post(
        f"{BASE}/entitlements", {"feature": "tokens", "limit": "50"}, format="json"
    )
    assert raised.json()["limit"] == "50" and raised.json()["granted_by"] == "override"
    amendments = ContractAmendment.objects.order_by("pk")
    assert [a.changes["features"][0]["feature"] for a in amendments] == ["tier", "tokens"]
    assert ContractFeatureOverride.history.count() == 2
    bad = admin_api.post(f"{BASE}/entitlements", {"feature": "tier", "limit": "5"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_grant"
    # A feature the body names that does not exist is the body's mistake (400), not a 404 that
    # would say the customer in the URL is missing.
    unknown = admin_api.post(f"{BASE}/entitlements", {"feature": "nope"}, format="json")
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_feature"
    assert (
        read_api.post(f"{BASE}/entitlements", {"feature": "tier"}, format="json").status_code == 403
    )


def test_check_consume_and_replay(api_client_for):
    customer, _, _ = metered_setup("20")
    ingest = api_client_for("ingest")
    check = ingest.post(f"{BASE}/check", {"feature": "tokens", "amount": "21"}, format="json")
    assert check.json() == {"allowed": False, "remaining": "20", "reason": "limit_reached"}
    body = {
        "feature": "tokens",
        "amount": "12.5",
        "idempotency_key": "req-1",
        "properties": {"model": "x"},
    }
    first = ingest.post(f"{BASE}/consume", body, format="json").json()
    assert (first["allowed"], first["remaining"], first["replayed"]) == (True, "7.5", False)
    again = ingest.post(f"{BASE}/consume", body, format="json").json()
    assert (again["allowed"], again["replayed"], again["event_id"]) == (
        True,
        True,
        first["event_id"],
    )
    changed = ingest.post(f"{BASE}/consume", {**body, "amount": "1"}, format="json")
    assert changed.status_code == 409
    assert changed.json()["error"]["code"] == "idempotency_key_reused"
    event = UsageEvent.objects.get(namespace="entitlements")
    assert event.properties == {"model": "x", "feature": "tokens", "amount": "12.5"}
    assert event.customer_id == customer.pk and event.type == "tokens"
    unknown = ingest.post(f"{BASE}/check", {"feature": "nope"}, format="json").json()
    assert unknown["reason"] == "unknown_feature" and not unknown["allowed"]
    read = api_client_for("read")
    assert read.post(f"{BASE}/check", {"feature": "tokens"}, format="json").status_code == 200
    assert read.post(f"{BASE}/consume", body, format="json").status_code == 403


def test_bound_key_sees_only_its_customer(api_client_for):
    customer, _, _ = metered_setup("20")
    metered_setup("20", external_id="beta")
    bound = api_client_for("admin", customer=customer)
    body = {"feature": "tokens", "amount": "1", "idempotency_key": "k"}
    assert bound.post(f"{BASE}/consume", body, format="json").status_code == 200
    assert bound.post("/api/v1/customers/beta/consume", body, format="json").status_code == 404
    grant = {"feature": "tokens", "limit": "1000"}
    assert bound.post(f"{BASE}/entitlements", grant, format="json").status_code == 403


def test_reservations_over_http(api_client_for):
    metered_setup("20")
    ingest = api_client_for("ingest")
    made = ingest.post(
        f"{BASE}/reservations",
        {"feature": "tokens", "amount": "15", "idempotency_key": "job", "expires_in": 60},
        format="json",
    )
    assert made.status_code == 201, made.json()
    rid = made.json()["reservation"]["id"]
    refused = ingest.post(
        f"{BASE}/reservations",
        {"feature": "tokens", "amount": "6", "idempotency_key": "j2"},
        format="json",
    )
    assert refused.status_code == 200 and refused.json()["reason"] == "limit_reached"
    done = ingest.post(f"{BASE}/reservations/{rid}/commit", {"amount": "4"}, format="json")
    assert done.status_code == 200 and done.json()["status"] == "committed"
    assert ingest.post(f"{BASE}/reservations/{rid}/release", format="json").status_code == 409
    assert ingest.post(f"{BASE}/reservations/999/release", format="json").status_code == 404
    left = ingest.post(f"{BASE}/check", {"feature": "tokens", "amount": "16"}, format="json")
    assert left.json() == {"allowed": True, "remaining": "0", "reason": None}
