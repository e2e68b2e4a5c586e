"""Failures: one error type with a deliberate ``retryable`` flag, no SDK retries, idempotent
resends, timeouts, configuration, and the API key kept out of logs."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.conf import settings
from prometheus_client import REGISTRY

from invoicing.stripe import errors
from invoicing.stripe.config import GatewayConfig
from invoicing.stripe.errors import StripeGatewayError
from invoicing.stripe.gateway import StripeGateway, default_gateway
from tests.stripe.recording import RecordingHTTPClient
from tests.stripe_support import DEAD_LOOPBACK, LOCALSTRIPE_API_KEY, gateway_for


def create_customer(
    gateway: StripeGateway, key: str = "customer:1:create", email: str = "a@acme.test"
) -> Any:
    return gateway.customer_create(idempotency_key=key, email=email)


def failure(gateway: StripeGateway) -> StripeGatewayError:
    with pytest.raises(StripeGatewayError) as caught:
        create_customer(gateway)
    return caught.value


@pytest.mark.parametrize(
    ("kind", "code", "retryable", "status", "stripe_code"),
    [
        ("timeout", errors.CONNECTION_ERROR, True, None, None),
        ("connection", errors.CONNECTION_ERROR, True, None, None),
        ("server_error", errors.SERVER_ERROR, True, 500, None),
        ("rate_limit", errors.RATE_LIMITED, True, 429, "rate_limit"),
        ("conflict", errors.CONFLICT, True, 409, "idempotency_key_in_use"),
        ("card_declined", errors.CARD_ERROR, False, 402, "card_declined"),
    ],
)
def test_failure_kinds_map_to_one_error_type(
    recording_gateway: StripeGateway,
    recording_client: RecordingHTTPClient,
    kind: str,
    code: str,
    retryable: bool,
    status: int | None,
    stripe_code: str | None,
) -> None:
    recording_client.fail("POST", "/v1/customers", kind=kind)
    error = failure(recording_gateway)
    assert (error.code, error.retryable, error.http_status, error.stripe_code) == (
        code,
        retryable,
        status,
        stripe_code,
    )
    assert error.details["retryable"] is retryable
    assert len(recording_client.requests) == 1  # max_network_retries=0: the SDK never resends


def test_card_decline_keeps_stripe_reason_and_request_id(
    recording_gateway: StripeGateway, recording_client: RecordingHTTPClient
) -> None:
    recording_client.fail("POST", "/v1/customers", kind="card_declined")
    error = failure(recording_gateway)
    assert error.decline_code == "insufficient_funds"
    assert error.message == "Your card has insufficient funds."
    assert error.request_id == "req_recfail"


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (
            400,
            {"type": "invalid_request_error", "code": "parameter_missing", "message": "m"},
            errors.INVALID_REQUEST,
        ),
        (
            404,
            {"type": "invalid_request_error", "code": "resource_missing", "message": "m"},
            errors.NOT_FOUND,
        ),
        (
            401,
            {"type": "invalid_request_error", "message": "Invalid API Key"},
            errors.AUTHENTICATION_ERROR,
        ),
        (403, {"type": "invalid_request_error", "message": "m"}, errors.PERMISSION_ERROR),
        (400, {"type": "idempotency_error", "message": "m"}, errors.IDEMPOTENCY_ERROR),
        (418, {"type": "api_error", "message": "m"}, errors.UNKNOWN_ERROR),
    ],
)
def test_final_errors_are_not_retryable(
    recording_gateway: StripeGateway,
    recording_client: RecordingHTTPClient,
    status: int,
    body: dict[str, str],
    code: str,
) -> None:
    recording_client.on("POST", "/v1/customers", {"error": body}, status=status)
    error = failure(recording_gateway)
    assert (error.code, error.retryable, error.http_status) == (code, False, status)
    assert error.stripe_code == body.get("code")


@pytest.mark.parametrize(
    ("kind", "header", "retryable"),
    [
        ("server_error", "false", False),  # Stripe says a resend would replay the same failure
        ("server_error", "true", True),
        ("conflict", "false", False),
    ],
)
def test_stripe_should_retry_header_wins(
    recording_gateway: StripeGateway,
    recording_client: RecordingHTTPClient,
    kind: str,
    header: str,
    retryable: bool,
) -> None:
    recording_client.fail(
        "POST", "/v1/customers", kind=kind, headers={"Stripe-Should-Retry": header}
    )
    assert failure(recording_gateway).retryable is retryable


def test_flaky_create_fails_twice_then_succeeds_with_one_key_and_one_object(
    recording_gateway: StripeGateway, recording_client: RecordingHTTPClient
) -> None:
    """The outbox resends the same row: same key every time, Stripe does the work once."""
    recording_client.fail("POST", "/v1/customers", times=1, kind="timeout")
    recording_client.fail("POST", "/v1/customers", times=1, kind="server_error")
    outcomes: list[str] = []
    customer = None
    for _attempt in range(3):
        try:
            customer = create_customer(recording_gateway, key="customer:77:create")
            outcomes.append("ok")
        except StripeGatewayError as exc:
            assert exc.retryable
            outcomes.append(exc.code)
    assert outcomes == [errors.CONNECTION_ERROR, errors.SERVER_ERROR, "ok"]
    sent = recording_client.requests_to("POST", "/v1/customers")
    assert [r.idempotency_key for r in sent] == ["customer:77:create"] * 3
    assert len({r.body for r in sent}) == 1
    assert len(recording_client.executed) == 1
    assert customer is not None and customer.email == "a@acme.test"


def test_timeout_after_stripe_answered_replays_the_same_object(
    recording_gateway: StripeGateway, recording_client: RecordingHTTPClient
) -> None:
    """The worker never saw the answer; the resend gets the saved one, not a second customer."""
    recording_client.fail("POST", "/v1/customers", kind="timeout_after_success")
    error = failure(recording_gateway)
    assert (error.code, error.retryable) == (errors.CONNECTION_ERROR, True)
    customer = create_customer(recording_gateway)
    assert len(recording_client.executed) == 1
    assert customer.id == recording_client.answers[0]["id"]


def test_same_key_other_parameters_is_a_final_idempotency_error(
    recording_gateway: StripeGateway, recording_client: RecordingHTTPClient
) -> None:
    create_customer(recording_gateway, email="a@acme.test")
    with pytest.raises(StripeGatewayError) as caught:
        create_customer(recording_gateway, email="other@acme.test")
    assert (caught.value.code, caught.value.retryable) == (errors.IDEMPOTENCY_ERROR, False)
    assert len(recording_client.executed) == 1


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback port that accepts connections and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def test_read_timeout_is_enforced_and_retryable(silent_server: str) -> None:
    config = GatewayConfig(
        api_key=LOCALSTRIPE_API_KEY,
        api_base=silent_server,
        api_version=settings.STRIPE_API_VERSION,
        connect_timeout=1.0,
        read_timeout=0.3,
    )
    gateway = StripeGateway(config)
    started = time.monotonic()
    with pytest.raises(StripeGatewayError) as caught:
        gateway.customer_retrieve("cus_1")
    elapsed = time.monotonic() - started
    assert (caught.value.code, caught.value.retryable) == (errors.CONNECTION_ERROR, True)
    assert elapsed < 2.0  # one attempt of 0.3 s, not the SDK's 80 s default nor its retries


def test_default_gateway_reads_settings(settings: Any) -> None:
    settings.STRIPE_API_KEY = "sk_test_from_settings"
    settings.STRIPE_API_BASE = "http://127.0.0.1:12345/"
    gateway = default_gateway()
    assert gateway.config.api_base == "http://127.0.0.1:12345"
    assert gateway.config.api_version == settings.STRIPE_API_VERSION
    assert (gateway.config.connect_timeout, gateway.config.read_timeout) == (
        settings.STRIPE_CONNECT_TIMEOUT_SECONDS,
        settings.STRIPE_READ_TIMEOUT_SECONDS,
    )
    assert default_gateway() is gateway  # reused while the configuration is unchanged
    settings.STRIPE_API_KEY = ""
    with pytest.raises(StripeGatewayError) as caught:
        default_gateway()
    assert (caught.value.code, caught.value.retryable) == (errors.NOT_CONFIGURED, False)


def test_unconfigured_tests_never_reach_the_real_stripe() -> None:
    """The autouse guard points every test at a dead loopback port unless it chose localstripe."""
    assert settings.STRIPE_API_BASE == DEAD_LOOPBACK
    with pytest.raises(StripeGatewayError) as caught:
        default_gateway().customer_retrieve("cus_1")
    assert (caught.value.code, caught.value.retryable) == (errors.CONNECTION_ERROR, True)


def test_api_key_never_appears_in_logs_or_reprs(caplog: pytest.LogCaptureFixture) -> None:
    secret_key = "sk_test_do_not_log_me_4242"
    client = RecordingHTTPClient()
    gateway = StripeGateway(
        GatewayConfig(api_key=secret_key, api_base="http://127.0.0.1:1"), http_client=client
    )
    client.fail("POST", "/v1/customers", kind="server_error")
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(StripeGatewayError) as caught:
            create_customer(gateway)
        create_customer(gateway, key="customer:2:create")
    assert client.requests[0].headers["Authorization"] == f"Bearer {secret_key}"
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "stripe call failed" in logged
    for text in (
        logged,
        repr(gateway),
        repr(gateway.config),
        repr(caught.value),
        str(caught.value.details),
    ):
        assert secret_key not in text


def test_gateway_for_refuses_non_loopback_bases() -> None:
    with pytest.raises(AssertionError):
        gateway_for("https://api.stripe.com")


def test_calls_are_counted_by_operation_and_outcome(
    recording_gateway: StripeGateway, recording_client: RecordingHTTPClient
) -> None:
    def count(outcome: str) -> float:
        value = REGISTRY.get_sample_value(
            "tally_stripe_requests_total", {"operation": "refund_create", "outcome": outcome}
        )
        return value or 0.0

    before_ok, before_failed = count("ok"), count(errors.SERVER_ERROR)
    recording_client.fail("POST", "/v1/refunds", kind="server_error")
    with pytest.raises(StripeGatewayError):
        recording_gateway.refund_create(charge_id="ch_1", idempotency_key="refund:1")
    recording_gateway.refund_create(charge_id="ch_1", idempotency_key="refund:1")
    assert (count("ok") - before_ok, count(errors.SERVER_ERROR) - before_failed) == (1, 1)


def test_concurrent_senders_of_one_row_create_one_object(
    recording_gateway: StripeGateway, recording_client: RecordingHTTPClient
) -> None:
    """Two workers racing on the same outbox row send the same key: one object, one answer."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(
            pool.map(
                lambda _: create_customer(recording_gateway, key="customer:9:create").id, range(8)
            )
        )
    assert len(set(ids)) == 1
    assert len(recording_client.requests) == 8
    assert len(recording_client.executed) == 1


def test_recording_default_gateway_is_what_tasks_get(
    recording_default_gateway: StripeGateway, recording_client: RecordingHTTPClient
) -> None:
    assert default_gateway() is recording_default_gateway
    default_gateway().refund_create(charge_id="ch_1", idempotency_key="refund:5")
    assert [r.idempotency_key for r in recording_client.requests] == ["refund:5"]
