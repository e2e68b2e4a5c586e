"""HTTP API: ingest (gzip, limits, outcomes), events browser, meters, usage; error shape."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta

import pytest
from django.test import override_settings

from metering.models import UsageEvent
from metering.services import rollup_drain
from tests.factories import CustomerFactory
from tests.metering.helpers import NOW, event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]


def post_events(client, events, *, gzip_body=False, raw=None):
    body = raw if raw is not None else json.dumps({"events": events}).encode()
    headers = {}
    if gzip_body:
        body = gzip.compress(body)
        headers["HTTP_CONTENT_ENCODING"] = "gzip"
    return client.generic(
        "POST", "/api/v1/events", body, content_type="application/json", **headers
    )


def test_ingest_returns_outcomes_and_stores_valid_events(api_client_for, customer):
    client = api_client_for("ingest")
    response = post_events(client, [event("a", at=NOW), {"id": "b"}, event("a", at=NOW)])
    assert response.status_code == 200
    body = response.json()
    assert [e["status"] for e in body["events"]] == ["accepted", "rejected", "duplicate"]
    assert body["accepted"] == 1 and body["rejected"] == 1 and body["duplicate"] == 1
    assert body["events"][1]["reason"] == "missing_customer"
    assert UsageEvent.objects.count() == 1


def test_ingest_accepts_gzip(api_client_for, customer):
    events = [event(f"g{i}", at=NOW, n=i) for i in range(1000)]
    response = post_events(api_client_for("ingest"), events, gzip_body=True)
    assert response.status_code == 200
    assert response.json()["accepted"] == 1000


@override_settings(METERING_MAX_DECOMPRESSED_BYTES=100_000)
def test_gzip_bomb_is_refused(api_client_for, customer):
    bomb = b'{"events": [' + b" " * 50_000_000 + b"]}"
    response = post_events(api_client_for("ingest"), None, gzip_body=True, raw=bomb)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert response.json()["error"]["details"] == {"max_decompressed_bytes": 100_000}


@override_settings(METERING_MAX_REQUEST_BYTES=2_000)
def test_body_over_the_byte_limit_is_refused(api_client_for, customer):
    events = [event(f"b{i}", at=NOW) for i in range(50)]
    response = post_events(api_client_for("ingest"), events)
    assert response.status_code == 413
    assert response.json()["error"]["details"]["max_request_bytes"] == 2_000
    assert UsageEvent.objects.count() == 0


def test_bodies_above_django_upload_limit_are_accepted_up_to_ingest_limit(api_client_for, customer):
    events = [event(f"big{i}", at=NOW, pad="x" * 400) for i in range(5000)]
    response = post_events(api_client_for("ingest"), events)  # ~2.5 MB > 1 MB Django default
    assert response.status_code == 200
    assert response.json()["accepted"] == 5000


def test_too_many_events_is_one_clear_error(api_client_for, customer):
    response = post_events(api_client_for("ingest"), [event(f"m{i}") for i in range(5001)])
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_many_events"
    assert error["details"] == {"max_events_per_request": 5000, "received": 5001}


@pytest.mark.parametrize("raw", [b"{not json", b'{"events": {}}', b'{"events": []}', b"[]"])
def test_malformed_bodies_use_the_error_shape(api_client_for, raw):
    response = post_events(api_client_for("ingest"), None, raw=raw)
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"code", "message", "details"}


def test_ingest_needs_ingest_scope(api_client_for, customer):
    response = post_events(api_client_for("read"), [event("x", at=NOW)])
    assert response.status_code == 403
    assert UsageEvent.objects.count() == 0


def test_event_browser_filters_and_respects_binding(api_client_for, customer):
    globex = CustomerFactory(external_id="globex")
    post_events(
        api_client_for("ingest"),
        [
            event("a1", at=NOW - timedelta(hours=2)),
            event("a2", type_="storage", at=NOW),
            event("g1", customer="globex", at=NOW),
        ],
    )
    reader = api_client_for("read")
    ids = [e["id"] for e in reader.get("/api/v1/events?customer=acme").json()["results"]]
    assert ids == ["a2", "a1"]
    typed = reader.get("/api/v1/events", {"type": "storage"}).json()["results"]
    assert [e["id"] for e in typed] == ["a2"]
    since = (NOW - timedelta(hours=1)).isoformat()
    recent = reader.get("/api/v1/events", {"start": since}).json()["results"]
    assert {e["id"] for e in recent} == {"a2", "g1"}
    bound = api_client_for("read", customer=customer)
    assert {e["id"] for e in bound.get("/api/v1/events").json()["results"]} == {"a1", "a2"}
    assert bound.get(f"/api/v1/events?customer={globex.external_id}").status_code == 404


def test_meter_crud_and_versioning(admin_api, read_api):
    created = admin_api.post(
        "/api/v1/meters",
        {
            "key": "tokens",
            "name": "Tokens",
            "event_type": "llm",
            "aggregation": "sum",
            "value_property": "tokens",
            "group_by": ["model"],
            "filters": [{"property": "region", "in": ["eu", "us"]}],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["key"] == "tokens" and body["group_by"] == ["model"]
    assert [v["version"] for v in body["versions"]] == [1]
    duplicate = admin_api.post(
        "/api/v1/meters",
        {"key": "tokens", "name": "again", "event_type": "llm", "aggregation": "count"},
        format="json",
    )
    assert duplicate.status_code == 409
    bad = admin_api.post(
        "/api/v1/meters",
        {"key": "x", "name": "x", "event_type": "llm", "aggregation": "sum"},
        format="json",
    )
    assert bad.status_code == 400
    assert "value_property" in bad.json()["error"]["details"]
    changed = admin_api.patch(
        "/api/v1/meters/tokens", {"value_property": "total_tokens"}, format="json"
    )
    assert changed.status_code == 200
    assert [v["version"] for v in changed.json()["versions"]] == [1, 2]
    assert changed.json()["value_property"] == "total_tokens"
    renamed = admin_api.patch("/api/v1/meters/tokens", {"name": "LLM tokens"}, format="json")
    assert len(renamed.json()["versions"]) == 2 and renamed.json()["name"] == "LLM tokens"
    assert read_api.get("/api/v1/meters/tokens").json()["name"] == "LLM tokens"
    assert read_api.post("/api/v1/meters", {}, format="json").status_code == 403
    assert read_api.get("/api/v1/meters/nope").status_code == 404


def test_usage_api_series_total_and_binding(api_client_for, admin_api, customer):
    globex = CustomerFactory(external_id="globex")
    admin_api.post(
        "/api/v1/meters",
        {
            "key": "bytes",
            "name": "Bytes",
            "event_type": "req",
            "aggregation": "sum",
            "value_property": "bytes",
            "group_by": ["region"],
        },
        format="json",
    )
    post_events(
        api_client_for("ingest"),
        [
            event("1", type_="req", at=NOW - timedelta(days=1), bytes=1.5, region="eu"),
            event("2", type_="req", at=NOW, bytes=2, region="us"),
            event("3", type_="req", customer="globex", at=NOW, bytes=100, region="us"),
        ],
    )
    rollup_drain()
    bound = api_client_for("read", customer=customer)
    url = "/api/v1/customers/acme/usage"
    params = {
        "meter": "bytes",
        "start": "2026-11-09T00:00:00Z",
        "end": "2026-11-11T00:00:00Z",
        "window": "day",
        "tz": "UTC",
    }
    body = bound.get(url, params).json()
    assert body["total"] == "3.5"
    assert [(p["start"], p["value"]) for p in body["series"]] == [
        ("2026-11-09T00:00:00Z", "1.5"),
        ("2026-11-10T00:00:00Z", "2"),
    ]
    grouped = bound.get(url, {**params, "group_by": "region"}).json()
    assert {(p["group"]["region"], p["value"]) for p in grouped["series"]} == {
        ("eu", "1.5"),
        ("us", "2"),
    }
    assert bound.get(f"/api/v1/customers/{globex.external_id}/usage", params).status_code == 404
    bad = bound.get(url, {**params, "group_by": "nope"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"
    assert bound.get(url, {**params, "meter": "missing"}).status_code == 404


def test_usage_defaults_to_the_customers_time_zone_and_month(api_client_for, admin_api):
    CustomerFactory(external_id="tokyo", timezone="Asia/Tokyo")
    admin_api.post(
        "/api/v1/meters",
        {"key": "calls", "name": "Calls", "event_type": "req", "aggregation": "count"},
        format="json",
    )
    body = api_client_for("read").get("/api/v1/customers/tokyo/usage", {"meter": "calls"}).json()
    assert body["tz"] == "Asia/Tokyo"
    assert body["start"] == "2026-10-31T15:00:00Z"  # 1 November, Tokyo midnight
    assert len(body["series"]) == 30 and body["total"] == "0"


def test_schema_documents_the_metering_endpoints(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in (
        "/api/v1/events",
        "/api/v1/meters",
        "/api/v1/meters/{key}",
        "/api/v1/customers/{external_id}/usage",
    ):
        assert path in schema["paths"], path
    assert "requestBody" in schema["paths"]["/api/v1/events"]["post"]


def test_usage_dates_are_read_in_the_answers_zone(api_client_for, admin_api):
    CustomerFactory(external_id="nyc", timezone="America/New_York")
    admin_api.post(
        "/api/v1/meters",
        {"key": "calls", "name": "Calls", "event_type": "req", "aggregation": "count"},
        format="json",
    )
    # 02:00 UTC on Nov 10 is still Nov 9 in New York: it belongs to the 9th, not the 10th
    post_events(
        api_client_for("ingest"),
        [event("late-evening", customer="nyc", type_="req", at=NOW.replace(hour=2, minute=0))],
    )
    rollup_drain()
    url = "/api/v1/customers/nyc/usage"
    params = {"meter": "calls", "start": "2026-11-09", "end": "2026-11-10", "window": "day"}
    body = api_client_for("read").get(url, params).json()
    assert body["tz"] == "America/New_York"
    assert body["start"] == "2026-11-09T05:00:00Z"  # midnight in New York (EST)
    assert body["end"] == "2026-11-10T05:00:00Z"
    assert body["total"] == "1"
    # a named zone wins; a time with an offset is taken as given
    tokyo = api_client_for("read").get(url, {**params, "tz": "Asia/Tokyo"}).json()
    assert tokyo["start"] == "2026-11-08T15:00:00Z"
    exact = api_client_for("read").get(url, {**params, "start": "2026-11-09T00:00:00Z"}).json()
    assert exact["start"] == "2026-11-09T00:00:00Z"
    bad = api_client_for("read").get(url, {**params, "start": "2026-13-40"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"


def test_schema_says_how_usage_dates_are_read(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    params = schema["paths"]["/api/v1/customers/{external_id}/usage"]["get"]["parameters"]
    start = next(p for p in params if p["name"] == "start")
    assert "midnight of that day" in start["description"]
    assert "date-time" not in json.dumps(start["schema"])
