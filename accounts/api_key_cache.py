"""A short-lived cache of API-key lookups in Redis, keyed by the digest of the presented key.

Authentication used to cost a database query on every API request; a hit here costs one Redis
GET instead. It lives in Redis (not in each process) so that a revocation reaches every web
process at once: ``api_key_revoke`` replaces the entry with a tombstone when it commits, and
entries are only ever *added* (``SET NX``), so a request that read the key from the database
just before the revocation cannot put the active key back over the tombstone. The tombstone
outlives any positive entry, after which the database (which says "revoked") answers again.

Redis failing never fails authentication: a lookup or write error falls back to the database
(the answer is the same, only slower). Keys are immutable once issued (name, scope, customer),
so a cached key can only go stale by being revoked or deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

from django.conf import settings
from django.core.cache import cache

from accounts.models import ApiKey

logger = logging.getLogger(__name__)

REVOKED: Literal["revoked"] = "revoked"
DEFAULT_SECONDS = 60
# Longer than any positive entry can live, so no entry added before the revocation survives it.
TOMBSTONE_FACTOR = 10


def _seconds() -> int:
    return int(getattr(settings, "API_KEY_CACHE_SECONDS", DEFAULT_SECONDS))


def _cache_key(digest: str) -> str:
    return f"api-key:{digest}"


# Reads one cache entry by its full Redis key (``cache.make_key``); the API reads it in the same
# round trip as the request's rate count (accounts.api.throttling.ApiKeyRateThrottle.fetcher).
Fetch = Callable[[str], Any]


def cached_api_key(digest: str, fetch: Fetch | None = None) -> ApiKey | Literal["revoked"] | None:
    """The cached active key for this digest, ``REVOKED`` for a revoked one, or None (ask the
    database). ``fetch`` replaces the cache's own GET (same key, same failures)."""
    if _seconds() <= 0:
        return None
    try:
        if fetch is not None:
            found = fetch(cache.make_key(_cache_key(digest)))
        else:
            found = cache.get(_cache_key(digest))
    except Exception:
        logger.warning("API key cache unavailable; reading the database", exc_info=True)
        return None
    if found == REVOKED or isinstance(found, ApiKey):
        return found
    return None


def remember_api_key(key: ApiKey) -> None:
    """Cache an active key just read from the database (never over a tombstone)."""
    seconds = _seconds()
    if seconds <= 0 or key.revoked_at is not None:
        return
    try:
        cache.add(_cache_key(key.digest), key, timeout=seconds)
    except Exception:
        logger.warning("API key cache unavailable; not caching", exc_info=True)


def drop_api_key(digest: str) -> None:
    """Remove a cached copy now (before a revocation commits)."""
    try:
        cache.delete(_cache_key(digest))
    except Exception:
        logger.warning("API key cache unavailable; could not drop a key", exc_info=True)


def forget_api_key(digest: str) -> None:
    """Make every process refuse this key from now on (after the revocation commits)."""
    try:
        cache.set(_cache_key(digest), REVOKED, timeout=max(_seconds(), 1) * TOMBSTONE_FACTOR)
    except Exception:
        # Copies cached before Redis failed live until they expire: say so loudly.
        logger.error(
            "Could not mark a revoked API key in the cache; cached copies live up to %s s",
            _seconds(),
            exc_info=True,
        )
