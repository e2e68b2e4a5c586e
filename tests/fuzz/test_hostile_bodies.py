"""Hand-made hostile bodies on every endpoint that reads a raw body: the native ingest, the
vendor compat endpoints and the Stripe webhook. Whatever arrives, the answer is never a 5xx,
and an error is in the endpoint's documented shape (the vendor's on compat endpoints).

A case that is known to fail goes into ``KNOWN_BROKEN`` with its reason (a strict xfail), so it
is listed rather than forgotten; today there is none.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from accounts.services import api_key_create
from tests.factories import CustomerFactory
from tests.stripe_support import sign_webhook

pytestmark = [pytest.mark.django_db, pytest.mark.fuzz]

WEBHOOK_SECRET = "whsec_hostile_bodies"


# --- where the bodies go, and what an error from there looks like ---------------------------


def _tally_shape(response: Any, body: Any) -> None:
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["message"]


def _lago_shape(response: Any, body: Any) -> None:
    assert {"status", "error", "code"} <= set(body), body
    assert {"message", "error_details"} & set(body), body
    assert body["status"] == response.status_code


def _openmeter_shape(response: Any, body: Any) -> None:
    assert response["Content-Type"].startswith("application/problem+json")
    assert {"type", "title", "status", "detail"} <= set(body), body
    assert body["status"] == response.status_code


def _orb_shape(response: Any, body: Any) -> None:
    assert {"type", "status", "title", "detail"} <= set(body), body
    assert body["status"] == response.status_code


def _metronome_shape(response: Any, body: Any) -> None:
    # request errors: message, code, details; per-event failures: message, errors
    assert "message" in body, body
    assert {"code", "errors"} & set(body), body


@dataclass(frozen=True)
class Endpoint:
    path: str
    # one event (as JSON text, so cases can hold what json.dumps would never write) -> body
    wrap: Callable[[list[str]], str]
    event: Callable[[str, str, str], str]  # (id, customer, type) JSON fragments -> event text
    shape: Callable[[Any, Any], None]
    content_type: str = "application/json"


def _obj(**fields: str) -> str:
    return "{" + ",".join(f'"{name}":{value}' for name, value in fields.items()) + "}"


ENDPOINTS = {
    "native": Endpoint(
        "/api/v1/events",
        lambda events: '{"events":[' + ",".join(events) + "]}",
        lambda i, c, t: _obj(id=i, customer=c, type=t, properties='{"tokens":1}'),
        _tally_shape,
    ),
    "lago": Endpoint(
        "/compat/lago/api/v1/events",
        lambda events: '{"event":' + events[0] + "}",
        lambda i, c, t: _obj(
            transaction_id=i, external_customer_id=c, code=t, properties='{"tokens":1}'
        ),
        _lago_shape,
    ),
    "lago-batch": Endpoint(
        "/compat/lago/api/v1/events/batch",
        lambda events: '{"events":[' + ",".join(events) + "]}",
        lambda i, c, t: _obj(
            transaction_id=i, external_customer_id=c, code=t, properties='{"tokens":1}'
        ),
        _lago_shape,
    ),
    "openmeter": Endpoint(
        "/compat/openmeter/api/v1/events",
        lambda events: "[" + ",".join(events) + "]",
        lambda i, c, t: _obj(
            specversion='"1.0"', id=i, source='"fuzz"', subject=c, type=t, data='{"tokens":1}'
        ),
        _openmeter_shape,
        content_type="application/cloudevents-batch+json",
    ),
    "orb": Endpoint(
        "/compat/orb/v1/ingest",
        lambda events: '{"events":[' + ",".join(events) + "]}",
        lambda i, c, t: _obj(
            idempotency_key=i,
            external_customer_id=c,
            event_name=t,
            timestamp='"2026-01-01T00:00:00Z"',
            properties='{"tokens":1}',
        ),
        _orb_shape,
    ),
    "metronome": Endpoint(
        "/compat/metronome/v1/ingest",
        lambda events: "[" + ",".join(events) + "]",
        lambda i, c, t: _obj(
            transaction_id=i,
            customer_id=c,
            event_type=t,
            timestamp='"2026-01-01T00:00:00Z"',
            properties='{"tokens":1}',
        ),
        _metronome_shape,
    ),
}


# --- the hostile bodies ---------------------------------------------------------------------

GOOD = ('"evt-1"', '"acme"', '"api_call"')
DEEP = 100_000  # far past any parser's recursion limit


@dataclass(frozen=True)
class Case:
    """A body for an endpoint, plus the request headers to send it with."""

    make: Callable[[Endpoint], bytes]
    headers: dict[str, str] | None = None
    content_type: str | None = None


def _one(endpoint: Endpoint, id_: str = GOOD[0], customer: str = GOOD[1], t: str = GOOD[2]):
    return endpoint.wrap([endpoint.event(id_, customer, t)]).encode()


def _with_properties(properties: str) -> Callable[[Endpoint], bytes]:
    def make(endpoint: Endpoint) -> bytes:
        event = endpoint.event(*GOOD)
        return endpoint.wrap([event.replace('{"tokens":1}', properties)]).encode()

    return make


def _gzip_bomb(endpoint: Endpoint) -> bytes:
    # ~40 MB of spaces after a valid start: inflates past METERING_MAX_DECOMPRESSED_BYTES
    return gzip.compress(_one(endpoint)[:-1] + b" " * (40 * 1024 * 1024) + b"}", 9)


def _too_many_events(endpoint: Endpoint) -> bytes:
    events = [endpoint.event(f'"evt-{n}"', *GOOD[1:]) for n in range(5001)]
    if endpoint.path.endswith("/lago/api/v1/events"):  # single-event endpoint: a huge event
        return endpoint.wrap([events[0].replace("1}", "1" + "0" * 20 + "}")]).encode()
    return endpoint.wrap(events).encode()


CASES: dict[str, Case] = {
    "deep-nesting-body": Case(lambda e: b"[" * DEEP + b"]" * DEEP),
    "deep-nesting-properties": Case(
        _with_properties('{"tokens":1,"x":' + "[" * DEEP + "]" * DEEP + "}")
    ),
    "lone-surrogate-id": Case(lambda e: _one(e, id_='"\\ud800"')),
    "lone-surrogate-customer": Case(lambda e: _one(e, customer='"acme\\udfff"')),
    "lone-surrogate-type": Case(lambda e: _one(e, t='"api\\ud83d"')),
    "lone-surrogate-property-key": Case(_with_properties('{"tokens":1,"\\ud800":1}')),
    "lone-surrogate-property-value": Case(_with_properties('{"tokens":1,"note":"\\udc00"}')),
    "overflowing-double": Case(_with_properties('{"tokens":1e309}')),
    "huge-integer": Case(_with_properties('{"tokens":' + "9" * 400 + "}")),
    "integer-past-int-digit-limit": Case(_with_properties('{"tokens":' + "9" * 5000 + "}")),
    "nan": Case(_with_properties('{"tokens":NaN}')),
    "infinity": Case(_with_properties('{"tokens":Infinity}')),
    "minus-infinity": Case(_with_properties('{"tokens":-Infinity}')),
    "invalid-utf8": Case(lambda e: _one(e, id_='"evt-\xff\xfe"').replace(b"\xc3\xbf", b"\xff")),
    "nul-in-id": Case(lambda e: _one(e, id_='"evt\\u0000"')),
    "not-json": Case(lambda e: b"{not json"),
    "empty-body": Case(lambda e: b""),
    "json-null": Case(lambda e: b"null"),
    "json-string": Case(lambda e: b'"events"'),
    "events-not-objects": Case(lambda e: e.wrap(["1", "null", '"x"', "[]"]).encode()),
    "wrong-content-type-text": Case(_one, content_type="text/plain"),
    "wrong-content-type-form": Case(
        lambda e: b"events=1", content_type="application/x-www-form-urlencoded"
    ),
    "wrong-content-type-multipart": Case(
        lambda e: b"--x\r\n\r\n--x--", content_type="multipart/form-data; boundary=x"
    ),
    "gzip-bomb": Case(_gzip_bomb, headers={"HTTP_CONTENT_ENCODING": "gzip"}),
    "gzip-corrupt": Case(lambda e: b"\x1f\x8bnot gzip", headers={"HTTP_CONTENT_ENCODING": "gzip"}),
    "unsupported-encoding": Case(_one, headers={"HTTP_CONTENT_ENCODING": "br"}),
    "oversized-batch": Case(_too_many_events),
    "oversized-body": Case(lambda e: b" " * (5 * 1024 * 1024 + 1) + _one(e)),
    "bad-content-length": Case(_one, headers={"CONTENT_LENGTH": "many"}),
}

# (endpoint, case) pairs known to answer 5xx or a foreign shape, with the reason.
KNOWN_BROKEN: dict[tuple[str, str], str] = {}


def _params() -> list[Any]:
    return [
        pytest.param(
            e,
            c,
            id=f"{e}-{c}",
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BROKEN[(e, c)])]
            if (e, c) in KNOWN_BROKEN
            else [],
        )
        for e in ENDPOINTS
        for c in CASES
    ]


@pytest.fixture
def ingest_key(db: None) -> str:
    CustomerFactory(external_id="acme", name="Acme")
    return api_key_create(name="hostile", scope="ingest").plaintext


@pytest.mark.parametrize(("endpoint_name", "case_name"), _params())
def test_hostile_body_on_ingest_endpoints(
    endpoint_name: str, case_name: str, ingest_key: str
) -> None:
    endpoint, case = ENDPOINTS[endpoint_name], CASES[case_name]
    client = Client(raise_request_exception=False)
    response = client.generic(
        "POST",
        endpoint.path,
        data=case.make(endpoint),
        content_type=case.content_type or endpoint.content_type,
        HTTP_AUTHORIZATION=f"Bearer {ingest_key}",
        **(case.headers or {}),
    )
    assert response.status_code < 500, response.content[:500]
    body = json.loads(response.content)
    if response.status_code >= 400:
        endpoint.shape(response, body)


# --- the Stripe webhook: signed hostile bodies (a bad signature stops at the door) ----------


def _envelope(**fields: str) -> bytes:
    base = {
        "id": '"evt_hostile_1"',
        "object": '"event"',
        "type": '"invoice.paid"',
        "created": "1767225600",
        "livemode": "false",
        "data": '{"object":{"id":"in_1","object":"invoice"}}',
    }
    base.update(fields)
    return _obj(**base).encode()


WEBHOOK_CASES: dict[str, Any] = {
    "deep-nesting": pytest.param(b"[" * DEEP + b"]" * DEEP),
    "deep-nesting-in-data": pytest.param(
        _envelope(data='{"object":{"x":' + "[" * DEEP + "]" * DEEP + "}}"),
    ),
    "lone-surrogate-id": pytest.param(_envelope(id='"evt_\\ud800"')),
    "lone-surrogate-type": pytest.param(_envelope(type='"invoice.\\udfff"')),
    "created-1e20": _envelope(created="1e20"),
    "created-huge-int": pytest.param(_envelope(created="1" + "0" * 20)),
    "created-nan": _envelope(created="NaN"),
    "created-infinity": _envelope(created="Infinity"),
    "number-past-double": _envelope(data='{"object":{"id":"in_1","amount":1e309}}'),
    "invalid-utf8": b'{"id":"evt_\xff\xfe","object":"event"}',
    "not-json": b"{not json",
    "empty": b"",
    "json-array": b"[]",
}


@pytest.mark.parametrize("payload", WEBHOOK_CASES.values(), ids=WEBHOOK_CASES.keys())
def test_hostile_signed_webhook(payload: bytes, settings: Any) -> None:
    settings.STRIPE_WEBHOOK_SECRETS = [WEBHOOK_SECRET]
    client = Client(raise_request_exception=False)
    response = client.post(
        "/webhooks/stripe/",
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign_webhook(payload, WEBHOOK_SECRET),
    )
    assert response.status_code < 500, response.content[:500]
    body = json.loads(response.content)
    if response.status_code >= 400:
        _tally_shape(response, body)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_webhook_with_wrong_content_type_and_no_signature(content_type: str, settings: Any) -> None:
    settings.STRIPE_WEBHOOK_SECRETS = [WEBHOOK_SECRET]
    response = Client(raise_request_exception=False).post(
        "/webhooks/stripe/", data=b"a=b", content_type=content_type
    )
    assert response.status_code == 400
    _tally_shape(response, json.loads(response.content))
