"""The API-key lookup cache (accounts.api_key_cache): a hit costs no database query, a bound
key keeps its customer, a revoked key is refused at once in every process, last use is still
recorded, and Redis failing only means reading the database."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import timedelta

import pytest
import time_machine
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import api_key_cache
from accounts.models import ApiKey
from accounts.services import api_key_authenticate, api_key_create, api_key_revoke
from tests import workers
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _client(plaintext: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


def _digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def test_a_cache_hit_costs_no_database_query(django_assert_num_queries):
    issued = api_key_create(name="hot", scope="ingest")
    with django_assert_num_queries(2):  # the lookup, and recording the first use
        first = api_key_authenticate(issued.plaintext)
    with django_assert_num_queries(0):
        again = api_key_authenticate(issued.plaintext)
    assert first is not None and again is not None
    assert (again.pk, again.scope, again.prefix) == (issued.api_key.pk, "ingest", first.prefix)
    # A wrong secret with the real prefix is not a hit (the cache is keyed by the digest).
    assert api_key_authenticate(issued.plaintext[:-1] + "#") is None


def test_a_bound_key_keeps_its_customer_when_served_from_the_cache(django_assert_num_queries):
    mine = CustomerFactory(external_id="cache-a")
    CustomerFactory(external_id="cache-b")
    issued = api_key_create(name="bound", scope="read", customer=mine)
    api_key_authenticate(issued.plaintext)
    with django_assert_num_queries(0):
        cached = api_key_authenticate(issued.plaintext)
    assert cached is not None and cached.customer_id == mine.pk
    assert cached.customer.external_id == "cache-a"  # read fresh, not a stale copy
    client = _client(issued.plaintext)
    assert client.get("/api/v1/customers/cache-b").status_code == 404
    assert client.get("/api/v1/customers/cache-a").status_code == 200
    assert [c["external_id"] for c in client.get("/api/v1/customers").json()["results"]] == [
        "cache-a"
    ]


def test_a_revoked_key_is_refused_at_once_even_over_a_stale_copy(
    django_capture_on_commit_callbacks,
):
    issued = api_key_create(name="leaked", scope="admin")
    client = _client(issued.plaintext)
    assert client.get("/api/v1/customers").status_code == 200
    stale = api_key_cache.cached_api_key(_digest(issued.plaintext))
    assert isinstance(stale, ApiKey)  # the next request would be served from the cache
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=issued.api_key)
    refused = client.get("/api/v1/customers")
    assert refused.status_code == 401, refused.content
    # A request that read the key just before the revocation committed caches it after the
    # tombstone: it must not bring the key back.
    api_key_cache.remember_api_key(stale)
    assert api_key_authenticate(issued.plaintext) is None
    assert client.get("/api/v1/customers").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_a_key_revoked_by_another_process_is_refused_by_this_one_at_once():
    issued = api_key_create(name="elsewhere", scope="read")
    client = _client(issued.plaintext)
    assert client.get("/api/v1/customers").status_code == 200
    assert isinstance(api_key_cache.cached_api_key(_digest(issued.plaintext)), ApiKey)
    revoke = (
        "from accounts.models import ApiKey; from accounts.services import api_key_revoke; "
        f"api_key_revoke(api_key=ApiKey.objects.get(pk={issued.api_key.pk}))"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", revoke],
        cwd=workers.ROOT,
        env={**os.environ, "DATABASE_URL": workers.test_database_url()},
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert client.get("/api/v1/customers").status_code == 401


def test_last_use_is_still_recorded_from_the_cache(django_assert_num_queries):
    issued = api_key_create(name="used", scope="read")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        api_key_authenticate(issued.plaintext)
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        with django_assert_num_queries(0):
            api_key_authenticate(issued.plaintext)
    assert ApiKey.objects.get(pk=issued.api_key.pk).last_used_at == start
    later = start + timedelta(minutes=2)
    with time_machine.travel(later, tick=False):
        with django_assert_num_queries(1):  # the throttled last-used UPDATE only
            api_key_authenticate(issued.plaintext)
    assert ApiKey.objects.get(pk=issued.api_key.pk).last_used_at == later


def test_without_redis_keys_are_read_from_the_database(django_assert_num_queries):
    issued = api_key_create(name="no-redis", scope="read")
    unreachable = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # the discard port: connection refused
        }
    }
    with override_settings(CACHES=unreachable):
        assert api_key_authenticate(issued.plaintext) is not None
        with django_assert_num_queries(1):  # no cache: the lookup again
            assert api_key_authenticate(issued.plaintext) is not None
        api_key_revoke(api_key=issued.api_key)
        assert api_key_authenticate(issued.plaintext) is None


@override_settings(API_KEY_CACHE_SECONDS=0)
def test_the_cache_can_be_turned_off(django_assert_num_queries):
    issued = api_key_create(name="uncached", scope="read")
    api_key_authenticate(issued.plaintext)
    with django_assert_num_queries(1):
        assert api_key_authenticate(issued.plaintext) is not None


def test_a_deleted_key_is_refused_at_once(django_capture_on_commit_callbacks):
    issued = api_key_create(name="deleted", scope="read")
    assert api_key_authenticate(issued.plaintext) is not None
    assert isinstance(api_key_cache.cached_api_key(_digest(issued.plaintext)), ApiKey)
    with django_capture_on_commit_callbacks(execute=True):
        ApiKey.objects.filter(pk=issued.api_key.pk).delete()
    assert api_key_authenticate(issued.plaintext) is None


def test_a_new_key_reusing_an_old_keys_id_still_has_its_first_use_recorded():
    # Truncating the table (as a flush does) restarts the id sequence: the per-process record
    # of the old key's last use must not be taken for the new key's.
    old = api_key_create(name="old", scope="read")
    api_key_authenticate(old.plaintext)
    reused_pk = old.api_key.pk
    ApiKey.objects.filter(pk=reused_pk).delete()
    new = api_key_create(name="new", scope="read")
    ApiKey.objects.filter(pk=new.api_key.pk).update(id=reused_pk)
    api_key_authenticate(new.plaintext)
    assert ApiKey.objects.get(pk=reused_pk).last_used_at is not None
