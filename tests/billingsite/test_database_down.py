"""PostgreSQL unreachable: every API endpoint answers 503 with ``Retry-After`` and code
``service_unavailable`` in its own error shape (Tally's, or the vendor's on ``/compat``),
never a 500 or Django's HTML page. The shared test database keeps running: the connection
settings are pointed at a directory with no PostgreSQL socket for the test's duration."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connections
from django.test import Client

from billingsite.errors import DATABASE_RETRY_AFTER_SECONDS
from tests.stripe.sync_support import SECRET
from tests.stripe_support import sign_webhook, stripe_event


@pytest.fixture
def database_unreachable(django_db_blocker, tmp_path) -> Iterator[None]:
    connection = connections["default"]
    saved = dict(connection.settings_dict)
    with django_db_blocker.unblock():
        connection.close()
        connection.settings_dict.update(HOST=str(tmp_path), PORT="")
        try:
            yield
        finally:
            connection.close()
            connection.settings_dict.clear()
            connection.settings_dict.update(saved)


def _tally(body: dict[str, Any]) -> str:
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["details"] == {"retry_after_seconds": DATABASE_RETRY_AFTER_SECONDS}
    return body["error"]["code"]


def _lago(body: dict[str, Any]) -> str:
    assert (body["status"], body["error"]) == (503, "Service Unavailable")
    return body["code"]


def _openmeter(body: dict[str, Any]) -> str:
    assert body["status"] == 503
    return body["extensions"]["code"]


def _orb(body: dict[str, Any]) -> str:
    assert body["status"] == 503 and body["detail"]
    return body["title"].lower().replace(" ", "_")


def _metronome(body: dict[str, Any]) -> str:
    assert set(body) == {"message", "code", "details"}
    return body["code"]


EVENTS = b'{"events": [{"id": "e-1", "customer": "acme", "type": "api_call"}]}'
REQUESTS: dict[str, tuple[str, str, bytes | None, str, Callable[[Any], str]]] = {
    "events_post": ("post", "/api/v1/events", EVENTS, "application/json", _tally),
    "events_get": ("get", "/api/v1/events", None, "", _tally),
    "customers": ("get", "/api/v1/customers", None, "", _tally),
    "customer_create": (
        "post",
        "/api/v1/customers",
        b'{"external_id": "x", "name": "X"}',
        "application/json",
        _tally,
    ),
    "meters": ("get", "/api/v1/meters", None, "", _tally),
    "usage": ("get", "/api/v1/customers/acme/usage?meter=calls", None, "", _tally),
    "plans": ("get", "/api/v1/plans", None, "", _tally),
    "refunds": ("get", "/api/v1/refunds", None, "", _tally),
    "lago": (
        "post",
        "/compat/lago/api/v1/events",
        b'{"event": {"transaction_id": "t", "external_customer_id": "acme", "code": "c"}}',
        "application/json",
        _lago,
    ),
    "openmeter": (
        "post",
        "/compat/openmeter/api/v1/events",
        b'{"specversion": "1.0", "id": "1", "source": "s", "type": "c", "subject": "acme"}',
        "application/cloudevents+json",
        _openmeter,
    ),
    "orb": ("post", "/compat/orb/v1/ingest", b'{"events": []}', "application/json", _orb),
    "metronome": ("post", "/compat/metronome/v1/ingest", b"[]", "application/json", _metronome),
}


@pytest.mark.parametrize("spec", REQUESTS.values(), ids=REQUESTS.keys())
def test_api_answers_503_while_postgresql_is_unreachable(database_unreachable, spec):
    method, path, body, content_type, code_of = spec
    client = Client(
        raise_request_exception=False, HTTP_AUTHORIZATION="Bearer tly_abcd1234_not-a-real-secret"
    )
    if method == "get":
        response = client.get(path)
    else:
        response = client.post(path, data=body, content_type=content_type)
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
    assert code_of(response.json()) == "service_unavailable"


def test_signed_webhook_answers_503_while_postgresql_is_unreachable(database_unreachable, settings):
    settings.STRIPE_WEBHOOK_SECRETS = [SECRET]
    payload = stripe_event("customer.created", {"id": "cus_1", "object": "customer"})
    response = Client(raise_request_exception=False).post(
        "/webhooks/stripe/",
        data=payload,
        content_type="application/json",
        headers={"Stripe-Signature": sign_webhook(payload, SECRET)},
    )
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
    assert _tally(response.json()) == "service_unavailable"
