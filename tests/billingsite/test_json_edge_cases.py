"""JSON that Python's decoder lets through but Tally must refuse (NaN, Infinity, 1e309, lone
UTF-16 surrogates in ids, keys or values, nesting past the stated limit) answers 400 in each
endpoint's own error shape on every endpoint that reads JSON, and stores nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.test import Client

from billingsite.strictjson import MAX_DEPTH
from invoicing.models import StripeWebhookEvent
from metering.models import RejectedEvent, UsageEvent
from tests.metering.helpers import NOW
from tests.stripe.sync_support import SECRET
from tests.stripe_support import sign_webhook, stripe_event

pytestmark = pytest.mark.django_db

NESTED_PAST_LIMIT = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
# inside an event's properties, with 4 levels above it: exactly the limit
NESTED_AT_LIMIT = "[" * (MAX_DEPTH - 4) + "]" * (MAX_DEPTH - 4)

# (name, event id as JSON text, a property value as JSON text)
BAD = [
    ("nan", '"e-1"', "NaN"),
    ("infinity", '"e-1"', "Infinity"),
    ("minus_infinity", '"e-1"', "-Infinity"),
    ("overflow", '"e-1"', "1e309"),
    ("negative_overflow", '"e-1"', "-1e400"),
    ("surrogate_in_value", '"e-1"', '"abc\\ud800"'),
    ("low_surrogate_in_value", '"e-1"', '"\\udfff"'),
    ("surrogate_in_key", '"e-1"', '{"\\udc00": 1}'),
    ("surrogate_in_id", '"e-\\ud83d"', "1"),
    ("nested_past_limit", '"e-1"', NESTED_PAST_LIMIT),
    ("nested_far_past_limit", '"e-1"', "[" * 100_000 + "]" * 100_000),
]
GOOD = [
    ("number", '"e-1"', "1"),
    ("surrogate_pair", '"e-\\ud83d\\ude00"', '"\\ud83d\\ude00"'),
    ("nested_within_limit", '"e-1"', NESTED_AT_LIMIT),
]
TS = '"2026-11-10T12:00:00Z"'


@dataclass(frozen=True)
class Endpoint:
    path: str
    body: Callable[[str, str], str]
    code_of: Callable[[Any], str]  # the error code, read from the endpoint's own error shape
    content_type: str = "application/json"


def _native_code(body: dict[str, Any]) -> str:
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return body["error"]["code"]


def _lago_code(body: dict[str, Any]) -> str:
    assert set(body) == {"status", "error", "code", "message", "error_details"}
    assert (body["status"], body["error"]) == (400, "Bad Request")
    return body["code"]


def _openmeter_code(body: dict[str, Any]) -> str:
    assert {"type", "title", "status", "detail", "instance", "extensions"} <= set(body)
    return body["extensions"]["code"]


def _orb_code(body: dict[str, Any]) -> str:
    assert body["type"].endswith("400-request-validation-errors") and body["status"] == 400
    assert body["validation_errors"]
    return body["title"].lower().replace(" ", "_")


def _metronome_code(body: dict[str, Any]) -> str:
    assert set(body) == {"message", "code", "details"}
    return body["code"]


ENDPOINTS = {
    "events": Endpoint(
        "/api/v1/events",
        lambda i, v: (
            f'{{"events": [{{"id": {i}, "customer": "acme", "type": "api_call", '
            f'"properties": {{"n": {v}}}}}]}}'
        ),
        _native_code,
    ),
    "lago": Endpoint(
        "/compat/lago/api/v1/events",
        lambda i, v: (
            f'{{"event": {{"transaction_id": {i}, "external_customer_id": "acme", '
            f'"code": "api_call", "properties": {{"n": {v}}}}}}}'
        ),
        _lago_code,
    ),
    "lago_batch": Endpoint(
        "/compat/lago/api/v1/events/batch",
        lambda i, v: (
            f'{{"events": [{{"transaction_id": {i}, "external_customer_id": "acme", '
            f'"code": "api_call", "properties": {{"n": {v}}}}}]}}'
        ),
        _lago_code,
    ),
    "openmeter": Endpoint(
        "/compat/openmeter/api/v1/events",
        lambda i, v: (
            f'{{"specversion": "1.0", "id": {i}, "source": "app", "type": "api_call", '
            f'"subject": "acme", "data": {{"n": {v}}}}}'
        ),
        _openmeter_code,
        "application/cloudevents+json",
    ),
    "orb": Endpoint(
        "/compat/orb/v1/ingest",
        lambda i, v: (
            f'{{"events": [{{"idempotency_key": {i}, "external_customer_id": "acme", '
            f'"event_name": "api_call", "timestamp": {TS}, "properties": {{"n": {v}}}}}]}}'
        ),
        _orb_code,
    ),
    "metronome": Endpoint(
        "/compat/metronome/v1/ingest",
        lambda i, v: (
            f'[{{"transaction_id": {i}, "customer_id": "acme", "event_type": '
            f'"api_call", "timestamp": {TS}, "properties": {{"n": {v}}}}}]'
        ),
        _metronome_code,
    ),
}


@pytest.fixture
def ingest_client(api_client_for):
    return api_client_for("ingest")


@pytest.fixture
def frozen_now():
    with time_machine.travel(NOW, tick=True):
        yield


def _post(client, endpoint: Endpoint, id_text: str, value_text: str):
    return client.post(
        endpoint.path,
        data=endpoint.body(id_text, value_text).encode(),
        content_type=endpoint.content_type,
    )


@pytest.mark.parametrize("endpoint", ENDPOINTS.values(), ids=ENDPOINTS.keys())
@pytest.mark.parametrize(("case", "id_text", "value_text"), BAD, ids=[b[0] for b in BAD])
def test_ingest_refuses_json_python_would_accept(
    ingest_client, endpoint, case, id_text, value_text, frozen_now
):
    response = _post(ingest_client, endpoint, id_text, value_text)
    assert response.status_code == 400, response.content
    assert endpoint.code_of(response.json()) == "parse_error"
    assert not UsageEvent.objects.exists()
    assert not RejectedEvent.objects.exists()


@pytest.mark.parametrize("endpoint", ENDPOINTS.values(), ids=ENDPOINTS.keys())
@pytest.mark.parametrize(("case", "id_text", "value_text"), GOOD, ids=[g[0] for g in GOOD])
def test_ingest_accepts_the_strict_decoders_neighbours(
    ingest_client, endpoint, case, id_text, value_text, frozen_now
):
    """The same bodies with valid JSON get through, so the 400s above are the decoder's."""
    response = _post(ingest_client, endpoint, id_text, value_text)
    assert response.status_code < 300, response.content
    assert UsageEvent.objects.count() == 1


# --- every DRF view, through DEFAULT_PARSER_CLASSES ------------------------------------------

DRF_POSTS = [
    "/api/v1/customers",
    "/api/v1/meters",
    "/api/v1/pricing/preview",
    "/api/v1/plans",
    "/api/v1/contracts",
]


@pytest.mark.parametrize("path", DRF_POSTS)
@pytest.mark.parametrize(("case", "id_text", "value_text"), BAD, ids=[b[0] for b in BAD])
def test_drf_views_refuse_the_same_json(admin_api, path, case, id_text, value_text):
    body = f'{{"external_id": {id_text}, "name": {value_text}}}'
    response = admin_api.post(path, data=body.encode(), content_type="application/json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["message"]) == (
        "parse_error",
        "The request body is not valid JSON.",
    )
    assert error["details"]["reason"].startswith("JSON parse error - ")


# --- the Stripe webhook ------------------------------------------------------------------------


@pytest.fixture
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRETS = [SECRET]


def _deliver_signed(payload: bytes):
    client = Client(raise_request_exception=False)
    return client.post(
        "/webhooks/stripe/",
        data=payload,
        content_type="application/json",
        headers={"Stripe-Signature": sign_webhook(payload, SECRET)},
    )


def _assert_refused(response, code: str = "webhook_payload_invalid") -> None:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert _native_code(response.json()) == code
    assert not StripeWebhookEvent.objects.exists()


@pytest.mark.parametrize(("case", "id_text", "value_text"), BAD, ids=[b[0] for b in BAD])
def test_signed_webhook_with_json_python_would_accept_is_refused(
    webhook_secret, case, id_text, value_text
):
    valid = stripe_event("customer.created", {"id": "cus_1", "object": "customer", "n": 1})
    payload = valid.replace(b'"n":1', f'"n":{value_text},"ref":{id_text}'.encode())
    assert payload != valid
    _assert_refused(_deliver_signed(payload))


@pytest.mark.parametrize("created", ["1e20", "100000000000000000000", "-1", "1.5"])
def test_signed_webhook_with_impossible_created_is_refused(webhook_secret, created):
    valid = stripe_event(
        "customer.created", {"id": "cus_1", "object": "customer"}, created=1_700_000_000
    )
    payload = valid.replace(b'"created":1700000000', f'"created":{created}'.encode())
    assert payload != valid
    _assert_refused(_deliver_signed(payload))


def test_webhook_errors_outside_the_view_are_json(webhook_secret):
    response = Client().get("/webhooks/stripe/nope")
    assert response.status_code == 404
    assert _native_code(response.json()) == "not_found"


def test_the_nesting_limit_is_stated_in_the_schema_and_the_readme(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    assert f"at most {MAX_DEPTH} levels deep" in schema["info"]["description"]
    readme = (settings.BASE_DIR / "README.md").read_text()
    assert f"nest at most **{MAX_DEPTH} levels**" in readme
