"""Every API failure answers {"error": {"code", "message", "details"}}."""

import pytest
from django.test import override_settings

from accounts.api.throttling import ApiKeyRateThrottle

pytestmark = pytest.mark.django_db


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def test_bad_json(admin_api):
    response = admin_api.post(
        "/api/v1/customers", data="{not json", content_type="application/json"
    )
    assert_error(response, 400, "parse_error")


def test_unknown_route(admin_api):
    error = assert_error(admin_api.get("/api/v1/no-such-thing"), 404, "not_found")
    assert "/api/v1/no-such-thing" in error["message"]


def test_unknown_route_without_credentials_is_still_json(client):
    assert_error(client.get("/api/v2/whatever"), 404, "not_found")


def test_wrong_method(admin_api):
    assert_error(admin_api.delete("/api/v1/customers"), 405, "method_not_allowed")


def test_unsupported_media_type(admin_api):
    response = admin_api.post(
        "/api/v1/customers", data="external_id=a", content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 415, "unsupported_media_type")


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_oversized_body(admin_api):
    big = '{"external_id": "big", "name": "' + "x" * 5000 + '"}'
    error = assert_error(
        admin_api.post("/api/v1/customers", data=big, content_type="application/json"),
        413,
        "payload_too_large",
    )
    assert error["details"]["max_bytes"] == 1000


def test_validation_error_lists_fields(admin_api):
    response = admin_api.post(
        "/api/v1/customers",
        {"external_id": "bad id!", "currency": "ZZZ", "name": "X"},
        format="json",
    )
    error = assert_error(response, 400, "validation_error")
    assert "external_id" in error["details"]


def test_throttled(admin_api, monkeypatch):
    monkeypatch.setattr(ApiKeyRateThrottle, "rate", "2/min", raising=False)
    monkeypatch.setattr(ApiKeyRateThrottle, "num_requests", 2, raising=False)
    monkeypatch.setattr(ApiKeyRateThrottle, "duration", 60, raising=False)
    assert admin_api.get("/api/v1/customers").status_code == 200
    assert admin_api.get("/api/v1/customers").status_code == 200
    error = assert_error(admin_api.get("/api/v1/customers"), 429, "throttled")
    assert 0 < error["details"]["retry_after_seconds"] <= 60


def test_unauthenticated(client):
    assert_error(client.get("/api/v1/customers"), 401, "not_authenticated")
