"""Requests per API key (``API_RATE_LIMIT``), counted in Redis so every web worker shares it.

A fixed window per key: the counter ``<key>:<window number>`` is incremented by one Lua script
(``INCR``, and ``EXPIRE`` when it was created), so concurrent requests are counted exactly. The
API's authentication sends it in one pipelined round trip with the API-key cache GET
(``ApiKeyRateThrottle.fetcher``) and leaves the count on the request for ``allow_request``: one
Redis round trip per API request, not two. DRF's ``SimpleRateThrottle`` read a pickled list of
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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisSerializer
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


# Where authentication leaves the count it took (``ApiKeyRateThrottle.fetcher``).
PRECOUNTED = "_tally_rate_count"


@dataclass(frozen=True)
class Precounted:
    ident_key: str
    now: float
    count: int | None  # None: Redis did not answer, the request is let through


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
        return self._ident_key(ident)

    def _ident_key(self, ident: str) -> str:
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def _counter(self, ident_key: str, now: float) -> str:
        self.now = now
        window = int(now // self.duration)
        self.window_ends = (window + 1) * self.duration
        return cache.make_key(f"{ident_key}:{window}")

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        ident_key = self.get_cache_key(request, view)
        if ident_key is None:
            return True
        pre = getattr(request, PRECOUNTED, None)
        if isinstance(pre, Precounted) and pre.ident_key == ident_key:
            self._counter(ident_key, pre.now)  # the window the count was taken in
            count = pre.count
        else:
            counter = self._counter(ident_key, self.timer())
            try:
                count = int(_count_script()(keys=[counter], args=[self.duration + 1]))
            except (redis.RedisError, OSError):
                count = None
        if count is None:
            _fail_open()
            return True
        return count <= self.num_requests

    @classmethod
    def fetcher(cls, request: Any) -> Callable[[str, str], Any] | None:
        """``fetch(cache_key, prefix)`` for ``api_key_authenticate``: GETs the API-key cache
        entry and counts this request against key ``prefix``'s limit, pipelined in one round
        trip; the count waits on ``request`` for ``allow_request``. A Redis that does not
        answer raises (the key is then read from the database) and the request is let
        through uncounted, as ``allow_request`` would. None without a rate limit (nothing to
        count: the cache's own GET)."""
        throttle = cls()
        if throttle.rate is None:
            return None

        def fetch(cache_key: str, prefix: str) -> Any:
            ident_key = throttle._ident_key(prefix)
            counter = throttle._counter(ident_key, throttle.timer())
            count = None
            try:
                found, count = _get_and_count(cache_key, counter, throttle.duration + 1)
            finally:
                setattr(request, PRECOUNTED, Precounted(ident_key, throttle.now, count))
            return None if found is None else _SERIALIZER.loads(found)

        return fetch

    def wait(self) -> float:
        """Whole seconds until the window ends (at least 1): ``Retry-After`` and
        ``retry_after_seconds``."""
        return float(max(1, math.ceil(self.window_ends - self.now)))


def _get_and_count(cache_key: str, counter: str, expire: int) -> tuple[bytes | None, int]:
    """GET ``cache_key`` and run the counting script on ``counter``, in one round trip.
    ``EVALSHA`` is queued as is (a script registered on a pipeline costs a ``SCRIPT EXISTS``
    round trip per call); the script is loaded only when Redis does not know it yet (a failed
    ``EVALSHA`` counted nothing, so it is sent again)."""
    script = _count_script()

    def send() -> tuple[bytes | None, int]:
        pipe = script.registered_client.pipeline(transaction=False)
        pipe.get(cache_key)
        pipe.evalsha(script.sha, 1, counter, expire)
        found, count = pipe.execute()
        return found, int(count)

    try:
        return send()
    except redis.exceptions.NoScriptError:
        script.sha = script.registered_client.script_load(script.script)
        return send()


# Django's RedisCache serializer, to read an entry it wrote (the API-key cache) from our client.
_SERIALIZER = RedisSerializer()


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
