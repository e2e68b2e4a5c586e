"""The customers' sign-in and password-reset forms are attempt-limited per account identifier
and per client address, in the real Redis; the 429 page says when to try again and nothing
about the account."""

from __future__ import annotations

import logging
import re

import pytest
import time_machine
from django.core import mail
from django.test import Client

from accounts.attempts import fingerprint
from accounts.models import Customer, UsagePageSignIn
from accounts.services import customer_user_create

pytestmark = pytest.mark.django_db

PASSWORD = "usage-pages-password-1"
WRONG = "not-the-password"
SIGN_IN, RESET = "/usage/sign-in/", "/usage/password-reset/"


@pytest.fixture
def ops(customer: Customer) -> str:
    customer_user_create(
        customer=customer, username="ops", email="ops@acme.example", password=PASSWORD
    )
    return "ops"


def sign_in(username: str, password: str, ip: str = "192.0.2.10"):  # type: ignore[no-untyped-def]
    return Client(REMOTE_ADDR=ip).post(SIGN_IN, {"username": username, "password": password})


def text(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_five_failures_lock_the_account_even_for_the_right_password(ops: str) -> None:
    for _ in range(5):
        response = sign_in(ops, WRONG)
        assert response.status_code == 200 and b"didn't match" in response.content
    locked = sign_in(ops, PASSWORD)
    assert locked.status_code == 429
    assert locked["Retry-After"] == "900"
    assert "Try again in 15 minutes" in text(locked)
    assert not UsagePageSignIn.objects.exists()
    # From another address too: the limit is the account's.
    assert sign_in(ops, PASSWORD, ip="198.51.100.7").status_code == 429


def test_the_refusal_is_the_same_for_an_unknown_account(ops: str) -> None:
    with time_machine.travel("2026-03-02 10:00:00Z", tick=False):
        for name in (ops, "nobody-here"):
            for _ in range(5):
                sign_in(name, WRONG)
        real, unknown = sign_in(ops, WRONG), sign_in("nobody-here", WRONG)
    assert real.status_code == unknown.status_code == 429
    assert real["Retry-After"] == unknown["Retry-After"]
    assert real.content == unknown.content
    assert "after 10:15 UTC" in text(real)


def test_a_successful_sign_in_resets_the_account_counter(ops: str) -> None:
    for _ in range(4):
        sign_in(ops, WRONG)
    assert sign_in(ops, PASSWORD).status_code == 302
    for _ in range(5):  # a fresh budget of five
        assert sign_in(ops, WRONG).status_code == 200
    assert sign_in(ops, WRONG).status_code == 429


def test_one_address_is_limited_across_accounts(ops: str) -> None:
    for n in range(20):
        assert sign_in(f"guess-{n}", WRONG, ip="203.0.113.5").status_code == 200
    assert sign_in(ops, PASSWORD, ip="203.0.113.5").status_code == 429
    assert sign_in(ops, PASSWORD, ip="203.0.113.6").status_code == 302


def test_successes_do_not_use_up_the_address(ops: str) -> None:
    for _ in range(25):  # more than the 20 per address: successes give the attempt back
        assert sign_in(ops, PASSWORD, ip="203.0.113.8").status_code == 302


def test_limits_come_from_settings_and_can_be_off(ops: str, settings) -> None:  # type: ignore[no-untyped-def]
    settings.USAGE_SIGN_IN_LIMIT_PER_USERNAME = "2/1m"
    sign_in(ops, WRONG)
    sign_in(ops, WRONG)
    refused = sign_in(ops, PASSWORD)
    assert refused.status_code == 429 and refused["Retry-After"] == "60"
    assert "Try again in 1 minute , after" in text(refused)  # singular
    settings.USAGE_SIGN_IN_LIMIT_PER_USERNAME = "off"
    settings.USAGE_SIGN_IN_LIMIT_PER_IP = "off"
    for _ in range(30):
        sign_in("someone", WRONG)
    assert sign_in(ops, PASSWORD).status_code == 302


def test_the_refusal_is_logged_without_secrets(ops: str, caplog: pytest.LogCaptureFixture) -> None:
    for _ in range(5):
        sign_in(ops, "s3cret-guess")
    with caplog.at_level(logging.INFO, logger="accounts.portal.throttle"):
        sign_in(ops, "s3cret-guess", ip="192.0.2.10")
    [record] = [r for r in caplog.records if getattr(r, "event", "") == "auth_throttled"]
    fields = {
        k: getattr(record, k) for k in ("action", "ip", "limit", "subject", "retry_after_seconds")
    }
    assert fields == {
        "action": "sign-in",
        "ip": "192.0.2.10",
        "limit": "sign-in:account",
        "subject": fingerprint("ops"),
        "retry_after_seconds": 900,
    }
    logged = " ".join(str(v) for v in record.__dict__.values())
    assert "s3cret-guess" not in logged and "'ops'" not in logged


def test_password_reset_requests_are_limited_per_email(ops: str) -> None:
    client = Client(REMOTE_ADDR="192.0.2.20")
    for _ in range(3):
        assert client.post(RESET, {"email": "ops@acme.example"}).status_code == 302
    refused = client.post(RESET, {"email": "OPS@acme.example"})
    assert refused.status_code == 429 and refused["Retry-After"] == "3600"
    assert "too many password reset requests" in text(refused)
    assert len(mail.outbox) == 3
    # An address with no account is limited the same way, so the page tells nothing.
    for _ in range(3):
        assert client.post(RESET, {"email": "ghost@acme.example"}).status_code == 302
    ghost = client.post(RESET, {"email": "ghost@acme.example"})
    assert ghost.status_code == 429
    assert text(ghost) == text(refused)


def test_password_reset_requests_are_limited_per_address(ops: str) -> None:
    client = Client(REMOTE_ADDR="192.0.2.30")
    for n in range(10):
        assert client.post(RESET, {"email": f"who-{n}@example.com"}).status_code == 302
    assert client.post(RESET, {"email": "ops@acme.example"}).status_code == 429
    assert mail.outbox == []
    other = Client(REMOTE_ADDR="192.0.2.31").post(RESET, {"email": "ops@acme.example"})
    assert other.status_code == 302 and len(mail.outbox) == 1
