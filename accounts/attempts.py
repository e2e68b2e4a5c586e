"""Attempt limits for everything that authenticates: customer sign-in, password-reset requests,
API keys. Counted in the project's Redis (the cache server), so every web worker shares them.

A ``Limit`` allows ``attempts`` per ``period`` for one subject (an account identifier or a
client address). Past it, the subject is locked out for one ``period``; while locked, requests
are refused before any password or key is checked, so a correct guess is worth nothing then.

Invariants:
- Counting and locking happen in one Lua script per call, so concurrent attempts cannot get
  past the limit and a counter never lives without its expiry (no permanent lockout).
- ``acquire`` reserves an attempt before the password is checked (the limit holds under
  concurrency); ``release`` gives it back after a success (the account's counter is cleared).
- Identifiers are stored and logged only as keyed digests (``fingerprint``): Redis and the logs
  never hold a username, an email address or a key.
- Whether an account exists changes nothing here: unknown identifiers are counted the same way.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.utils.crypto import salted_hmac

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_LIMIT = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])[a-z]*\s*$", re.IGNORECASE)
OFF = ("", "0", "off", "none")

# KEYS: counter and lock key of each subject, in pairs. ARGV[1]: "acquire" (reserve an attempt;
# refuse past the limit) or "fail" (count a failure; lock when the limit is reached); then
# (attempts, period in ms) for each subject. Returns {ms locked, 1-based subject that is locked}.
_SCRIPT = """
local worst, which = 0, 0
for i = 1, #KEYS, 2 do
  local ttl = redis.call('PTTL', KEYS[i + 1])
  if ttl > worst then worst, which = ttl, (i + 1) / 2 end
end
if worst > 0 then return {worst, which} end
local past = ARGV[1] == 'acquire' and 1 or 0
for i = 1, #KEYS, 2 do
  local j = i + 1
  local limit, period = tonumber(ARGV[j]), tonumber(ARGV[j + 1])
  local n = redis.call('INCR', KEYS[i])
  if redis.call('PTTL', KEYS[i]) < 0 then redis.call('PEXPIRE', KEYS[i], period) end
  if n >= limit + past then
    redis.call('DEL', KEYS[i])
    redis.call('SET', KEYS[i + 1], '1', 'PX', period)
    if period > worst then worst, which = period, (i + 1) / 2 end
  end
end
return {worst, which}
"""
# Gives back an attempt reserved by ``acquire`` (never below zero).
_REFUND = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Limit:
    """``attempts`` per ``period`` seconds for subjects of one kind (e.g. ``sign-in:ip``)."""

    name: str
    attempts: int
    period: int


def parse_limit(name: str, text: str, *, setting: str = "") -> Limit | None:
    """``"5/15m"`` -> 5 attempts per 900 s (units s, m, h, d; ``"20/min"`` works too);
    ``off`` or ``0`` -> None (no limit)."""
    if text.strip().lower() in OFF:
        return None
    match = _LIMIT.match(text)
    count = int(match.group(1)) if match else 0
    period = int(match.group(2) or 1) * _UNITS[match.group(3).lower()] if match else 0
    if count < 1 or period < 1:
        raise ImproperlyConfigured(
            f"{setting or name} must look like 5/15m (attempts per period; units s, m, h, d) "
            f"or off; got {text!r}."
        )
    return Limit(name, count, period)


LIMIT_SETTINGS = (
    "USAGE_SIGN_IN_LIMIT_PER_USERNAME",
    "USAGE_SIGN_IN_LIMIT_PER_IP",
    "USAGE_PASSWORD_RESET_LIMIT_PER_EMAIL",
    "USAGE_PASSWORD_RESET_LIMIT_PER_IP",
    "API_AUTH_FAILURE_LIMIT_PER_IP",
)


def configured_limit(name: str, setting: str) -> Limit | None:
    return parse_limit(name, str(getattr(settings, setting)), setting=setting)


def check_limit_settings() -> None:
    """Raise ``ImproperlyConfigured`` for the first malformed limit setting."""
    for setting in LIMIT_SETTINGS:
        configured_limit(setting, setting)


def fingerprint(identifier: str) -> str:
    """A keyed digest of an identifier (case and surrounding spaces ignored)."""
    normalized = identifier.strip().casefold()
    return salted_hmac("tally.attempts", normalized).hexdigest()[:32]


@dataclass(frozen=True)
class Subject:
    """One limit applied to one identifier (a username, an email address, a client address)."""

    limit: Limit
    identifier: str

    @functools.cached_property
    def digest(self) -> str:
        return fingerprint(self.identifier)

    @property
    def counter_key(self) -> str:
        return cache.make_key(f"attempts:{self.limit.name}:{self.digest}")

    @property
    def lock_key(self) -> str:
        return cache.make_key(f"attempts:{self.limit.name}:{self.digest}:locked")


@dataclass(frozen=True)
class Verdict:
    """``retry_after`` seconds (0: go ahead) and the subject whose lockout decided it."""

    retry_after: int
    subject: Subject | None = None

    @property
    def refused(self) -> bool:
        return self.retry_after > 0


def subjects(*pairs: tuple[Limit | None, str | None]) -> list[Subject]:
    """Subjects for the (limit, identifier) pairs that have both (limits may be off)."""
    return [Subject(limit, ident) for limit, ident in pairs if limit is not None and ident]


def acquire(items: list[Subject]) -> Verdict:
    """Reserve one attempt for every subject before checking a secret; refused when any is
    locked out, or when this attempt is past a limit (which starts that subject's lockout)."""
    return _run("acquire", items)


def fail(items: list[Subject]) -> Verdict:
    """Count one failure for every subject; reaching a limit starts the lockout (for checks
    that look at ``locked`` first and count only failures, like API keys)."""
    return _run("fail", items)


def locked(items: list[Subject]) -> Verdict:
    """Whether any subject is locked out, without counting anything."""
    if not items:
        return Verdict(0)
    with _redis().pipeline(transaction=False) as pipe:
        for item in items:
            pipe.pttl(item.lock_key)
        ttls = pipe.execute()
    worst = max(range(len(items)), key=lambda i: ttls[i])
    return Verdict(_seconds(ttls[worst]), items[worst]) if ttls[worst] > 0 else Verdict(0)


def clear(item: Subject) -> None:
    """Forget a subject's attempts (e.g. the account after a successful sign-in)."""
    _redis().delete(item.counter_key)


def refund(item: Subject) -> None:
    """Give back the attempt ``acquire`` reserved (e.g. the address after a success)."""
    _redis().eval(_REFUND, 1, item.counter_key)


def _run(mode: str, items: list[Subject]) -> Verdict:
    if not items:
        return Verdict(0)
    keys: list[str] = []
    args: list[Any] = [mode]
    for item in items:
        keys += [item.counter_key, item.lock_key]
        args += [item.limit.attempts, item.limit.period * 1000]
    ms, which = _redis().eval(_SCRIPT, len(keys), *keys, *args)
    if ms <= 0:
        return Verdict(0)
    return Verdict(_seconds(ms), items[int(which) - 1])


def _seconds(ms: int) -> int:
    return max(1, -(-int(ms) // 1000))


@functools.cache
def _redis() -> redis.Redis:
    """A client for the cache's Redis server (``REDIS_URL``); pools are per process."""
    return redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
