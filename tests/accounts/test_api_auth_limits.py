"""Failed API key authentications are limited per client address (real Redis): past the
limit the address's bad keys are answered 429 in the one error shape; valid keys still work."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.services import api_key_create

pytestmark = pytest.mark.django_db


def call(key: str, ip: str = "192.0.2.50", path: str = "/api/v1/customers"):  # type: ignore[no-untyped-def]
    client = APIClient(REMOTE_ADDR=ip)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client.get(path)


@pytest.fixture
def good_key(db: None, settings) -> str:  # type: ignore[no-untyped-def]
    settings.API_AUTH_FAILURE_LIMIT_PER_IP = "3/5m"
    return api_key_create(name="reader", scope="read").plaintext


def test_an_address_guessing_keys_is_locked_out_but_valid_keys_still_work(good_key: str) -> None:
    for n in range(3):
        response = call(f"tly_guess_{n}")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "authentication_failed"
    locked = call("tly_guess_again")
    assert locked.status_code == 429
    assert locked["Retry-After"] == "300"
    error = locked.json()["error"]
    assert error["code"] == "throttled"
    assert error["message"].startswith("Too many failed authentications from this address.")
    assert error["details"] == {"retry_after_seconds": 300}
    # A healthy service behind the same address (a shared NAT) keeps sending usage.
    assert call(good_key).status_code == 200
    assert call("tly_guess_more").status_code == 429
    assert call("tly_guess_other", ip="192.0.2.51").status_code == 401  # other addresses


def test_malformed_headers_count_as_failures(good_key: str) -> None:
    client = APIClient(REMOTE_ADDR="192.0.2.60")
    for _ in range(3):
        client.credentials(HTTP_AUTHORIZATION="Basic abc")
        assert client.get("/api/v1/customers").status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Basic abc")
    assert client.get("/api/v1/customers").status_code == 429


def test_valid_keys_never_use_up_the_limit(good_key: str) -> None:
    for _ in range(10):
        assert call(good_key).status_code == 200
    assert call("tly_guess_x").status_code == 401
    assert call("tly_guess_y").status_code == 401
    assert call(good_key).status_code == 200


def test_compat_endpoints_answer_the_lockout_in_the_vendor_shape(good_key: str) -> None:
    for n in range(3):
        call(f"tly_guess_{n}", path="/compat/orb/v1/ingest")
    response = call("tly_guess_3", path="/compat/lago/api/v1/events")
    assert response.status_code == 429 and response["Retry-After"] == "300"
    body = response.json()
    assert (body["status"], body["error"], body["code"]) == (429, "Too Many Requests", "throttled")


def test_the_limit_can_be_turned_off(good_key: str, settings) -> None:  # type: ignore[no-untyped-def]
    settings.API_AUTH_FAILURE_LIMIT_PER_IP = "off"
    for n in range(10):
        assert call(f"tly_guess_{n}").status_code == 401
    assert call(good_key).status_code == 200
