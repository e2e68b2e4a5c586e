"""Each pytest-xdist worker has its own Redis database, and so do the processes it starts.

Tests share one Redis server. ``cache.clear()`` before every test is a FLUSHDB, and Celery's
broker keys and the sign-in throttle counters live there too: two workers on one database
would wipe and read each other's keys.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
import redis
from celery.app.backends import by_url
from django.conf import settings
from django.core.cache import cache
from kombu import Connection

from billingsite.celery import app
from billingsite.redis_urls import celery_broker_url, redis_url_with_db, worker_redis_db
from billingsite.settings import env as settings_env

ROOT = settings.BASE_DIR
# A worker id no real run reaches on a 2-core machine (xdist numbers workers from gw0).
OTHER_WORKER = "gw13"


def _django_child(code: str, **env: str) -> str:
    """Run ``code`` in a fresh Python with Django set up, as the test helpers start children."""
    script = "import django; django.setup()\n" + code
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "billingsite.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_worker_ids_pick_distinct_databases() -> None:
    assert worker_redis_db({}) is None
    assert worker_redis_db({"PYTEST_XDIST_WORKER": "gw0"}) == 1
    assert worker_redis_db({"PYTEST_XDIST_WORKER": "gw1"}) == 2
    assert worker_redis_db({"PYTEST_XDIST_WORKER": "gw1", "TALLY_TEST_REDIS_DB": "7"}) == 7
    with pytest.raises(ValueError, match="out of range"):
        worker_redis_db({"PYTEST_XDIST_WORKER": "gw15"})


def test_urls_name_the_database_in_each_clients_spelling() -> None:
    sock = "unix:///srv/redis.sock"
    assert redis_url_with_db(sock, None) == sock
    assert redis_url_with_db(sock, 3) == "unix:///srv/redis.sock?db=3"
    assert redis_url_with_db(sock + "?db=1", 3) == "unix:///srv/redis.sock?db=3"
    assert redis_url_with_db("redis://h:6379/0", 4) == "redis://h:6379/4"
    assert redis_url_with_db("redis://h:6379", 4) == "redis://h:6379/4"
    assert celery_broker_url("unix:///srv/redis.sock?db=3") == (
        "redis+socket:///srv/redis.sock?virtual_host=3"
    )
    assert celery_broker_url("redis://h:6379/4") == "redis://h:6379/4"


def test_cache_broker_and_results_reach_the_same_database() -> None:
    """redis-py (cache, throttles), kombu (broker) and Celery's result backend, each given its
    own spelling of one URL, read the key the others' database holds."""
    url = redis_url_with_db(settings_env("REDIS_URL"), 14)
    key = f"probe-{uuid.uuid4().hex}"
    direct = redis.Redis.from_url(url)
    direct.set(key, b"here", ex=60)
    try:
        with Connection(celery_broker_url(url)) as conn:
            assert conn.default_channel.client.get(key) == b"here"
        # As Celery builds CELERY_RESULT_BACKEND: "redis+socket://" is the redis backend on
        # "socket://".
        backend_class, backend_url = by_url(celery_broker_url(url), app.loader)
        assert backend_class(app=app, url=backend_url).client.get(key) == b"here"
        assert redis.Redis.from_url(settings_env("REDIS_URL")).get(key) is None
    finally:
        direct.delete(key)


def test_this_worker_and_its_children_use_this_workers_database() -> None:
    expected = worker_redis_db(os.environ)
    assert settings.REDIS_URL == redis_url_with_db(settings_env("REDIS_URL"), expected)
    assert settings.CACHES["default"]["LOCATION"] == settings.REDIS_URL
    assert settings.CELERY_BROKER_URL == celery_broker_url(settings.REDIS_URL)
    # Celery workers and helper scripts get os.environ (tests/workers.py): same database.
    child = _django_child(
        "from django.conf import settings\n"
        "print(settings.CACHES['default']['LOCATION'], settings.CELERY_BROKER_URL)"
    )
    assert child.split() == [settings.REDIS_URL, settings.CELERY_BROKER_URL]


def test_clearing_the_cache_leaves_another_workers_keys() -> None:
    other = {"PYTEST_XDIST_WORKER": OTHER_WORKER}
    key = f"other-worker-{uuid.uuid4().hex}"
    _django_child(f"from django.core.cache import cache; cache.set({key!r}, 'theirs', 60)", **other)
    try:
        cache.clear()  # what tests/conftest.py does before each of this worker's tests
        kept = _django_child(
            f"from django.core.cache import cache; print(cache.get({key!r}))", **other
        )
        assert kept == "theirs"
    finally:
        _django_child("from django.core.cache import cache; cache.clear()", **other)
