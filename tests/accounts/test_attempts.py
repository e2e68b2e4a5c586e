"""Attempt limits counted in the real Redis (accounts.attempts)."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.exceptions import ImproperlyConfigured

from accounts import attempts
from accounts.attempts import Limit, Subject, parse_limit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5/15m", (5, 900)),
        ("20/min", (20, 60)),
        ("3/1h", (3, 3600)),
        ("10 / 30s", (10, 30)),
        ("2/d", (2, 86400)),
        ("1/1S", (1, 1)),
    ],
)
def test_limits_parse(text: str, expected: tuple[int, int]) -> None:
    limit = parse_limit("x", text)
    assert limit is not None and (limit.attempts, limit.period) == expected


@pytest.mark.parametrize("text", ["off", "0", "", " OFF "])
def test_limits_can_be_turned_off(text: str) -> None:
    assert parse_limit("x", text) is None


@pytest.mark.parametrize("text", ["5", "5/", "five/1m", "5/15x", "-1/1m", "5/0m", "0/1m "])
def test_malformed_limits_name_their_setting(text: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="USAGE_SIGN_IN_LIMIT_PER_IP must look like"):
        parse_limit("x", text, setting="USAGE_SIGN_IN_LIMIT_PER_IP")


def test_settings_are_checked_at_start(settings) -> None:  # type: ignore[no-untyped-def]
    attempts.check_limit_settings()
    settings.API_AUTH_FAILURE_LIMIT_PER_IP = "lots"
    with pytest.raises(ImproperlyConfigured, match="API_AUTH_FAILURE_LIMIT_PER_IP"):
        attempts.check_limit_settings()


def test_acquire_allows_the_limit_then_locks_for_one_period() -> None:
    ops = Subject(Limit("t:account", 3, 60), "ops")
    assert [attempts.acquire([ops]).retry_after for _ in range(3)] == [0, 0, 0]
    refused = attempts.acquire([ops])
    assert refused.refused and 59 <= refused.retry_after <= 60 and refused.subject == ops
    assert attempts.locked([ops]).refused
    # Other identifiers are not affected; case and spaces do not make a new identifier.
    assert not attempts.acquire([Subject(ops.limit, "someone-else")]).refused
    assert attempts.acquire([Subject(ops.limit, " OPS ")]).refused


def test_clear_and_refund_give_attempts_back() -> None:
    account = Subject(Limit("t:account", 2, 60), "ops")
    ip = Subject(Limit("t:ip", 2, 60), "192.0.2.1")
    for _ in range(10):  # ten successes: each gives its attempt back
        assert not attempts.acquire([account, ip]).refused
        attempts.clear(account)
        attempts.refund(ip)
    assert not attempts.acquire([account, ip]).refused
    assert not attempts.acquire([account, ip]).refused
    assert attempts.acquire([account, ip]).refused
    attempts.refund(Subject(Limit("t:ip", 2, 60), "198.51.100.9"))  # nothing to refund: no-op


def test_fail_locks_when_the_limit_is_reached() -> None:
    ip = Subject(Limit("t:api", 2, 60), "192.0.2.1")
    assert not attempts.locked([ip]).refused
    assert not attempts.fail([ip]).refused
    assert attempts.fail([ip]).refused  # the second failure starts the lockout
    assert attempts.locked([ip]).retry_after > 0


def test_lockout_ends_after_the_period() -> None:
    ops = Subject(Limit("t:short", 1, 1), "ops")
    assert not attempts.acquire([ops]).refused
    assert attempts.acquire([ops]).refused
    time.sleep(1.2)
    assert not attempts.acquire([ops]).refused  # fresh budget after the lockout


def test_concurrent_attempts_never_get_past_the_limit() -> None:
    ops = Subject(Limit("t:race", 5, 60), "ops")
    allowed: list[bool] = []
    start = threading.Barrier(20)

    def attempt() -> None:
        start.wait()
        allowed.append(not attempts.acquire([ops]).refused)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 5


def test_redis_holds_digests_not_identifiers_and_counters_expire() -> None:
    subject = Subject(Limit("t:keys", 5, 60), "ops@acme.example")
    attempts.acquire([subject])
    client = attempts._redis()
    keys = [k.decode() for k in client.keys("*attempts*")]
    assert keys == [subject.counter_key]
    assert "ops" not in keys[0] and subject.digest in keys[0]
    assert 0 < client.pttl(subject.counter_key) <= 60_000
