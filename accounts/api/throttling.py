"""Requests per API key (``API_RATE_LIMIT``), counted in Redis so every web worker shares it.

A fixed window per key: the counter ``<key>:<window number>`` is incremented by one Lua script
(``INCR``, and ``EXPIRE`` when it was created), so each request costs one Redis round trip and
concurrent requests are counted exactly. DRF's ``SimpleRateThrottle`` read a pickled list of
every request time and wrote it back: its cost grew with the rate and concurrent requests
overwrote each other's counts. A fixed window lets a key send up to twice the rate across a
window boundary; the limit protects the service from load, so that is acceptable.

When Redis does not answer, requests are allowed (fail open) and a warning is logged (at most
once a minute per process) and counted in ``tally_rate_limit_unavailable_total``: usage events
must keep flowing while the cache is down; the database, not Redis, holds them.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from prometheus_client import Counter
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiKey

logger = logging.getLogger(__name__)

UNAVAILABLE = Counter(
    "tally_rate_limit_unavailable_total",
    "API requests let through without a rate-limit check because Redis did not answer",
)
# A Redis that hangs must not hang the API: the check gives up quickly and lets the request in.
REDIS_TIMEOUT_SECONDS = 0.5
_LOG_EVERY_SECONDS = 60.0

_COUNT_IN_WINDOW = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


class ApiKeyRateThrottle(SimpleRateThrottle):
    """``rate``, ``num_requests`` and ``duration`` come from ``SimpleRateThrottle`` (the
    ``api_key`` entry of ``DEFAULT_THROTTLE_RATES``); only the counting is replaced."""

    scope = "api_key"
    # Set by SimpleRateThrottle.__init__ from the rate; declared for the type checker.
    duration: int
    num_requests: int

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        key = request.auth
        ident = key.prefix if isinstance(key, ApiKey) else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        ident_key = self.get_cache_key(request, view)
        if ident_key is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        self.window_ends = (window + 1) * self.duration
        self.now = now
        counter = cache.make_key(f"{ident_key}:{window}")
        try:
            count = _count_script()(keys=[counter], args=[self.duration + 1])
        except (redis.RedisError, OSError):
            _fail_open()
            return True
        return int(count) <= self.num_requests

    def wait(self) -> float:
        """Whole seconds until the window ends (at least 1): ``Retry-After`` and
        ``retry_after_seconds``."""
        return float(max(1, math.ceil(self.window_ends - self.now)))


def _count_script() -> Any:
    return _script_for(settings.CACHES["default"]["LOCATION"])


@functools.lru_cache(maxsize=4)
def _script_for(location: str) -> Any:
    """The counting script on a client for the cache's Redis; one pool per process and URL."""
    client = redis.Redis.from_url(
        location,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
    )
    return client.register_script(_COUNT_IN_WINDOW)


_last_logged = [-math.inf]


def _fail_open() -> None:
    UNAVAILABLE.inc()
    now = time.monotonic()
    if now - _last_logged[0] >= _LOG_EVERY_SECONDS:
        _last_logged[0] = now
        logger.warning(
            "rate limit not checked: Redis is unavailable; requests are let through",
            exc_info=True,
            extra={"event": "rate_limit_unavailable"},
        )
