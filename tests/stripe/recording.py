"""An HTTP client for the Stripe SDK that records every request and answers from canned routes.

Used where localstripe lacks a call (billing portal, Checkout, disputes, invoice finalize/send,
list filters by ``created``) and to script failures::

    client = RecordingHTTPClient()
    client.fail("POST", "/v1/customers", times=2, kind="server_error")
    gateway = gateway_for("http://127.0.0.1:1", http_client=client)   # tests.stripe_support
    ...
    [request] = client.requests_to("POST", "/v1/customers")
    assert request.idempotency_key == "customer:1:create"
    assert request.form["email"] == "a@example.com"

Like Stripe, it saves the answer to a POST with an ``Idempotency-Key`` (2xx and 402) and replays
it for a repeat with the same path and body (``Idempotent-Replayed: true``); the same key with other
parameters answers 400 ``idempotency_error``. Scripted failures happen before that replay check
unless ``kind="timeout_after_success"``: the request "reaches Stripe" (its answer is saved under
the key) but the client sees a timeout, as when a worker dies after Stripe answered.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe
from requests.structures import CaseInsensitiveDict

from tests.stripe import canned

Responder = Callable[["RecordedRequest", dict[str, str]], tuple[int, dict[str, Any]]]
FAILURE_KINDS = {
    "timeout",
    "connection",
    "timeout_after_success",
    "server_error",
    "rate_limit",
    "conflict",
    "card_declined",
}


@dataclass(frozen=True)
class RecordedRequest:
    method: str  # upper case
    url: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str  # decoded as UTF-8 (undecodable bytes replaced); ``raw_body`` is exact
    raw_body: bytes = b""

    @property
    def form(self) -> dict[str, str]:
        """Form-encoded parameters (POST body, or the query string of a GET), bracket keys
        flat as sent: ``{"flow_data[type]": "payment_method_update"}``."""
        source = self.body if self.method == "POST" else urlsplit(self.url).query
        return dict(parse_qsl(source, keep_blank_values=True))

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("Idempotency-Key")

    @property
    def stripe_version(self) -> str | None:
        return self.headers.get("Stripe-Version")


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    respond: Responder


@dataclass
class _Failure:
    method: str
    pattern: re.Pattern[str]
    remaining: int
    kind: str
    headers: dict[str, str] = field(default_factory=dict)


def _compile(path: str) -> re.Pattern[str]:
    """``/v1/invoices/{id}/pay`` -> a regex with named groups, anchored at both ends."""
    regex = re.sub(
        r"\{(\w+)\}", r"(?P<\1>[^/]+)", re.escape(path).replace(r"\{", "{").replace(r"\}", "}")
    )
    return re.compile(f"^{regex}$")


def _stable(record: RecordedRequest) -> bytes:
    """The body without the multipart boundary (random per request), to compare resends."""
    content_type = record.headers.get("Content-Type", "")
    if "boundary=" in content_type:
        return record.raw_body.replace(content_type.split("boundary=", 1)[1].encode(), b"")
    return record.raw_body


class RecordingHTTPClient(stripe.HTTPClient):
    name = "recording"

    def __init__(self, *, default_routes: bool = True) -> None:
        super().__init__()
        self.requests: list[RecordedRequest] = []
        self.executed: list[RecordedRequest] = []  # reached a route: "Stripe did the work"
        self.answers: list[dict[str, Any]] = []  # what each executed request answered
        self._routes: list[_Route] = []
        self._failures: list[_Failure] = []
        self._saved: dict[str, tuple[str, int, dict[str, Any]]] = {}
        self._lock = threading.Lock()  # worker threads may share one client: one request at a time
        if default_routes:
            for method, path, respond in canned.default_routes():
                self._routes.append(_Route(method, _compile(path), respond))

    # --- scripting -----------------------------------------------------------------------------

    def on(
        self, method: str, path: str, body: dict[str, Any] | Responder, *, status: int = 200
    ) -> None:
        """Answer ``method path`` (``{id}`` placeholders allowed) with ``body``; takes
        precedence over the default routes and earlier ``on`` calls."""
        if callable(body):
            respond = body
        else:
            fixed = body

            def respond(
                request: RecordedRequest, params: dict[str, str]
            ) -> tuple[int, dict[str, Any]]:
                return status, json.loads(json.dumps(fixed))

        self._routes.insert(0, _Route(method.upper(), _compile(path), respond))

    def fail(
        self,
        method: str,
        path: str,
        *,
        times: int = 1,
        kind: str = "timeout",
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next ``times`` matching requests fail with ``kind`` (see FAILURE_KINDS)."""
        if kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {kind!r}")
        self._failures.append(
            _Failure(method.upper(), _compile(path), times, kind, dict(headers or {}))
        )

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        pattern = _compile(path)
        return [r for r in self.requests if r.method == method.upper() and pattern.match(r.path)]

    # --- the SDK's HTTPClient interface --------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        with self._lock:
            return self._handle(method, url, headers, post_data)

    def _handle(
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any
    ) -> tuple[str, int, Mapping[str, str]]:
        record = self._record(method, url, headers, post_data)
        failure = self._take_failure(record)
        if failure is not None and failure.kind != "timeout_after_success":
            return self._fail(failure)
        status, body, replayed = self._answer(record)
        if failure is not None:  # timeout_after_success: the answer is saved, the client times out
            raise stripe.APIConnectionError(
                "Request timed out (after Stripe answered)", should_retry=True
            )
        response_headers = CaseInsensitiveDict({"Request-Id": f"req_rec{len(self.requests):04d}"})
        if replayed:
            response_headers["Idempotent-Replayed"] = "true"
        return json.dumps(body), status, response_headers

    def request_stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        raise NotImplementedError("the gateway makes no streaming calls")

    def close(self) -> None:
        pass

    # --- internals -----------------------------------------------------------------------------

    def _record(self, method: str, url: str, headers: Any, post_data: Any) -> RecordedRequest:
        parts = urlsplit(url)
        raw = post_data if isinstance(post_data, bytes) else (post_data or "").encode()
        record = RecordedRequest(
            method=method.upper(),
            url=url,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=dict(headers or {}),
            body=raw.decode("utf-8", errors="replace"),
            raw_body=raw,
        )
        self.requests.append(record)
        return record

    def _take_failure(self, record: RecordedRequest) -> _Failure | None:
        for failure in self._failures:
            if (
                failure.remaining > 0
                and failure.method == record.method
                and failure.pattern.match(record.path)
            ):
                failure.remaining -= 1
                return failure
        return None

    def _fail(self, failure: _Failure) -> tuple[str, int, CaseInsensitiveDict[str]]:
        if failure.kind in ("timeout", "connection"):
            raise stripe.APIConnectionError(f"Simulated {failure.kind}", should_retry=True)
        status, error = {
            "server_error": (500, {"type": "api_error", "message": "Simulated server error"}),
            "rate_limit": (
                429,
                {
                    "type": "invalid_request_error",
                    "code": "rate_limit",
                    "message": "Too many requests",
                },
            ),
            "conflict": (
                409,
                {
                    "type": "idempotency_error",
                    "code": "idempotency_key_in_use",
                    "message": "Another request with this key is in progress",
                },
            ),
            "card_declined": (
                402,
                {
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": "insufficient_funds",
                    "message": "Your card has insufficient funds.",
                },
            ),
        }[failure.kind]
        headers = CaseInsensitiveDict({"Request-Id": "req_recfail", **failure.headers})
        return json.dumps({"error": error}), status, headers

    def _answer(self, record: RecordedRequest) -> tuple[int, dict[str, Any], bool]:
        key = record.idempotency_key if record.method == "POST" else None
        fingerprint = hashlib.sha256(record.path.encode() + b"\n" + _stable(record)).hexdigest()
        if key is not None and key in self._saved:
            first, status, body = self._saved[key]
            if first != fingerprint:
                return (
                    400,
                    {
                        "error": {
                            "type": "idempotency_error",
                            "message": "Keys for idempotent requests can only be used with the "
                            "same parameters they were first used with.",
                        }
                    },
                    False,
                )
            return status, json.loads(json.dumps(body)), True
        status, body = self._route(record)
        if key is not None and (200 <= status < 300 or status == 402):
            self._saved[key] = (fingerprint, status, body)
        return status, body, False

    def _route(self, record: RecordedRequest) -> tuple[int, dict[str, Any]]:
        for route in self._routes:
            match = route.pattern.match(record.path)
            if route.method == record.method and match:
                status, body = route.respond(record, match.groupdict())
                self.executed.append(record)
                self.answers.append(body)
                return status, body
        return 404, {
            "error": {
                "type": "invalid_request_error",
                "message": f"Unrecognized request URL ({record.method}: "
                f"{record.path}) in RecordingHTTPClient",
            }
        }
