"""The per-key rate limit (``API_RATE_LIMIT``): an atomic fixed-window counter in the real
Redis, exact under concurrency, and failing open (with a warning) when Redis is down."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from types import SimpleNamespace

import pytest
from django.test import override_settings

from accounts.api import throttling
from accounts.api.throttling import ApiKeyRateThrottle
from accounts.models import ApiKey
from metering.models import UsageEvent

LIMIT = 20
FIXED_NOW = time.time()


@pytest.fixture
def limit_of_20(monkeypatch):
    monkeypatch.setattr(ApiKeyRateThrottle, "rate", f"{LIMIT}/min", raising=False)
    # one window for the whole test, whatever the clock does meanwhile
    monkeypatch.setattr(ApiKeyRateThrottle, "timer", lambda self: FIXED_NOW)


def _request_for(prefix: str) -> SimpleNamespace:
    return SimpleNamespace(auth=ApiKey(prefix=prefix), META={})


def test_the_limit_counts_exactly_under_50_concurrent_requests(limit_of_20):
    request = _request_for(f"conc{uuid.uuid4().hex[:8]}")
    start = threading.Barrier(50)
    verdicts: list[bool] = []
    lock = threading.Lock()

    def one_request() -> None:
        throttle = ApiKeyRateThrottle()  # DRF makes one per request
        start.wait()
        allowed = throttle.allow_request(request, None)  # type: ignore[arg-type]
        with lock:
            verdicts.append(allowed)

    threads = [threading.Thread(target=one_request) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(verdicts) == 50
    assert verdicts.count(True) == LIMIT
    # another key has its own budget
    assert ApiKeyRateThrottle().allow_request(_request_for("other" + uuid.uuid4().hex[:8]), None)


def test_refusal_says_when_the_window_ends(limit_of_20):
    request = _request_for(f"wait{uuid.uuid4().hex[:8]}")
    for _ in range(LIMIT):
        assert ApiKeyRateThrottle().allow_request(request, None)
    throttle = ApiKeyRateThrottle()
    assert not throttle.allow_request(request, None)
    window_end = (int(FIXED_NOW // 60) + 1) * 60
    assert throttle.wait() == max(1, -(-(window_end - FIXED_NOW) // 1))


DEAD_REDIS = {
    "unix_socket": "unix:///nonexistent/tally-h2-dead/redis.sock",
    "closed_port": "redis://127.0.0.1:1/0",
}


def _dead_cache(location: str) -> dict:
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": location,
            "KEY_PREFIX": "tally-test",
        }
    }


@pytest.mark.django_db
@pytest.mark.parametrize("location", DEAD_REDIS.values(), ids=DEAD_REDIS.keys())
def test_ingest_keeps_accepting_events_while_redis_is_down(
    api_client_for, location, caplog, monkeypatch, django_capture_on_commit_callbacks
):
    client = api_client_for("ingest")
    monkeypatch.setattr(throttling, "_last_logged", [float("-inf")])
    before = throttling.UNAVAILABLE._value.get()
    body = {"events": [{"id": "down-1", "customer": "acme", "type": "api_call"}]}
    # the commit hooks (the rollup kick, which also uses Redis) run too, and must not fail
    with (
        override_settings(CACHES=_dead_cache(location)),
        django_capture_on_commit_callbacks(execute=True) as hooks,
    ):
        with caplog.at_level(logging.WARNING, logger="accounts.api.throttling"):
            response = client.post("/api/v1/events", body, format="json")
            second = client.post(
                "/api/v1/events",
                {"events": [{"id": "down-2", "customer": "acme", "type": "api_call"}]},
                format="json",
            )
    assert hooks  # the rollup kick ran (and only logged that Redis is down)
    assert response.status_code == 200, response.content
    assert second.status_code == 200, second.content
    assert [e["status"] for e in response.json()["events"]] == ["unattributed"]
    assert sorted(UsageEvent.objects.values_list("event_id", flat=True)) == ["down-1", "down-2"]
    assert throttling.UNAVAILABLE._value.get() == before + 2
    warnings = [r for r in caplog.records if r.name == "accounts.api.throttling"]
    assert len(warnings) == 1  # logged once a minute, not once per request
    assert "Redis is unavailable" in warnings[0].getMessage()
