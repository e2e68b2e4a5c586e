"""Redis URLs: the spelling each client wants, and one database per parallel test worker.

The test suite runs under pytest-xdist with one process per core, all on one Redis server.
Each worker must see only its own keys: ``cache.clear()`` (run before every test) is a
FLUSHDB, Celery's broker queues and ``app.control.ping`` replies travel through Redis, and the
sign-in throttle counts live there. So a test worker gets its own Redis database number, and
every process it starts (Celery workers, helper scripts) inherits the same number through the
environment variables that chose it.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Redis ships with 16 databases (0-15). 0 is the serial run's; workers gw0..gw14 get 1..15.
REDIS_DATABASES = 16


def worker_redis_db(environ: Mapping[str, str]) -> int | None:
    """The Redis database this test process uses, or None to keep the URL's own.

    ``TALLY_TEST_REDIS_DB`` wins when set; otherwise pytest-xdist's ``PYTEST_XDIST_WORKER``
    (``gw0``, ``gw1``, ...) picks 1, 2, ... A serial run (no xdist) keeps the URL as it is.
    """
    explicit = environ.get("TALLY_TEST_REDIS_DB", "").strip()
    if explicit:
        db = int(explicit)
    else:
        worker = environ.get("PYTEST_XDIST_WORKER", "")
        if not worker.startswith("gw"):
            return None
        db = 1 + int(worker[2:])
    if not 0 <= db < REDIS_DATABASES:
        raise ValueError(
            f"test Redis database {db} is out of range 0-{REDIS_DATABASES - 1}: run at most "
            f"{REDIS_DATABASES - 1} xdist workers, or set TALLY_TEST_REDIS_DB"
        )
    return db


def redis_url_with_db(redis_url: str, db: int | None) -> str:
    """``redis_url`` pointing at database ``db`` (redis-py spelling); unchanged for None."""
    if db is None:
        return redis_url
    parts = urlsplit(redis_url)
    if parts.scheme == "unix":
        # A socket path has no room for "/<db>": redis-py reads it from the query.
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "db"] + [("db", str(db))]
        # (urlunsplit would drop the empty host and write "unix:/path", which redis-py refuses.)
        return f"unix://{parts.netloc}{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{db}"))


def celery_broker_url(redis_url: str) -> str:
    """kombu spells a unix-socket Redis ``redis+socket://`` and its database ``virtual_host``;
    redis-py spells them ``unix://`` and ``db``. TCP URLs mean the same to both."""
    parts = urlsplit(redis_url)
    if parts.scheme != "unix":
        return redis_url
    query = [("virtual_host" if k == "db" else k, v) for k, v in parse_qsl(parts.query)]
    return f"redis+socket://{parts.path}" + (f"?{urlencode(query)}" if query else "")
