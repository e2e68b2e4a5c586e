import json
import logging

import pytest
from django.test import override_settings

from billingsite.observability import LogContextFilter, request_id_var

pytestmark = pytest.mark.django_db


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_database_and_redis(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_reports_redis_down(client):
    broken = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "unix:///nonexistent/redis.sock",
        }
    }
    with override_settings(CACHES=broken):  # Django rebuilds the cache handlers on change
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("error")
    assert response.json()["checks"]["database"] == "ok"


def test_metrics_exposes_request_counters(client):
    client.get("/healthz")
    body = client.get("/metrics").content.decode()
    assert "tally_http_requests_total" in body
    assert 'method="GET"' in body


def test_request_id_is_echoed_or_generated(client):
    given = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    assert given["X-Request-ID"] == "abc-123"
    made = client.get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces\n")
    assert made["X-Request-ID"] != "bad id with spaces\n"
    assert len(made["X-Request-ID"]) == 32


def test_log_lines_are_json_with_request_id():
    from pythonjsonlogger.json import JsonFormatter

    record = logging.LogRecord("tally", logging.INFO, __file__, 1, "charged %s", ("acme",), None)
    token = request_id_var.set("req-42")
    try:
        LogContextFilter().filter(record)
    finally:
        request_id_var.reset(token)
    line = json.loads(JsonFormatter("%(levelname)s %(name)s %(message)s").format(record))
    assert line["message"] == "charged acme"
    assert line["request_id"] == "req-42"


def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    assert "/api/v1/customers" in paths
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert b"cdn." not in docs.content  # assets are served locally (sidecar), no CDN
