"""What the API's per-request diet relies on and keeps (issue 15): the browser paths keep
CSRF; every API route is a DRF view without session authentication; the health check sends no
``SELECT 1`` while the connection's socket is quiet and still replaces a connection PostgreSQL
killed between requests; an ingest request of an unbound key costs one statement (the upsert)
besides COPY, BEGIN and COMMIT."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

import psycopg
import pytest
import redis.connection
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.db.backends.postgresql.base import DatabaseWrapper as DjangoPostgres
from django.middleware.csrf import CsrfViewMiddleware
from django.test import Client, RequestFactory
from django.urls import get_resolver
from rest_framework.authentication import SessionAuthentication
from rest_framework.views import APIView

from accounts.api import throttling
from accounts.services import api_key_create
from billingsite.postgres.base import socket_quiet
from tests.factories import CustomerFactory

BROWSER_ONLY = (SessionMiddleware, CsrfViewMiddleware, AuthenticationMiddleware, MessageMiddleware)
SECURITY_HEADERS = ("X-Content-Type-Options", "Referrer-Policy", "Cross-Origin-Opener-Policy")


def _ingest_body(customer: str = "acme", n: int = 2) -> str:
    return json.dumps(
        {
            "events": [
                {"id": uuid.uuid4().hex, "customer": customer, "type": "api_request"}
                for _ in range(n)
            ]
        }
    )


@pytest.mark.django_db
def test_csrf_still_enforced_on_admin_forms(django_user_model: Any) -> None:
    django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-long-enough-1")
    strict = Client(enforce_csrf_checks=True)
    refused = strict.post("/admin/login/", {"username": "boss", "password": "pw-long-enough-1"})
    assert refused.status_code == 403
    page = strict.get("/admin/login/")
    token = page.cookies["csrftoken"].value
    accepted = strict.post(
        "/admin/login/",
        {"username": "boss", "password": "pw-long-enough-1", "csrfmiddlewaretoken": token},
    )
    assert accepted.status_code == 302


def test_every_api_route_is_a_drf_view_without_session_authentication() -> None:
    """What lets API requests skip the session and CSRF middleware: nothing under /api/v1/ or
    /compat/ can authenticate with a session cookie (so no CSRF check is due)."""

    def walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
        for p in patterns:
            if hasattr(p, "url_patterns"):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            else:
                yield prefix + str(p.pattern), p.callback

    routes = [(r, cb) for r, cb in walk(get_resolver().url_patterns)]
    api = [(r, cb) for r, cb in routes if r.startswith(("api/v1/", "compat/"))]
    assert len(api) > 50
    for route, callback in api:
        view = getattr(callback, "cls", None)
        assert view is not None and issubclass(view, APIView), route
        for auth in view().get_authenticators():
            assert not isinstance(auth, SessionAuthentication), route


def _wsgi(path: str, body: str | None, key: str) -> tuple[str, bytes]:
    """One request through Django's WSGI handler, as gunicorn calls it: request_started and
    request_finished run close_old_connections (Django's test Client skips that). No body: a
    GET."""
    factory = RequestFactory()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    environ = (
        factory.get(path, **auth).environ
        if body is None
        else factory.post(path, body, content_type="application/json", **auth).environ
    )
    status: list[str] = []
    response = WSGIHandler()(environ, lambda s, headers, exc_info=None: status.append(s))
    try:
        content = b"".join(response)
    finally:
        response.close()
    return status[0], content


@pytest.mark.django_db(transaction=True)
def test_ingest_request_sends_only_the_upsert_besides_copy() -> None:
    """Statements one ingest request of an unbound key runs through psycopg cursors: the
    upsert alone (no SELECT 1 health check, no customer lookup, no staging DDL); the COPY,
    BEGIN and COMMIT are not cursor statements."""
    CustomerFactory(external_id="acme", name="Acme")
    key = api_key_create(name="lean", scope="ingest").plaintext
    assert _wsgi("/api/v1/events", _ingest_body(), key)[0].startswith("200")  # warms key cache
    assert _wsgi("/api/v1/events", _ingest_body(), key)[0].startswith("200")
    sent: list[str] = []
    original = psycopg.Cursor.execute

    def spy(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(str(query).strip())
        return original(self, query, *args, **kwargs)

    with mock.patch.object(psycopg.Cursor, "execute", spy):
        status, content = _wsgi("/api/v1/events", _ingest_body(n=3), key)
    assert status.startswith("200"), content
    assert json.loads(content)["accepted"] == 3
    assert len(sent) == 1 and sent[0].startswith("WITH cust AS"), sent


@pytest.mark.django_db(transaction=True)
def test_quiet_connection_gets_no_select_1_and_a_killed_one_is_replaced() -> None:
    CustomerFactory(external_id="acme", name="Acme")
    key = api_key_create(name="lean", scope="ingest").plaintext
    assert _wsgi("/api/v1/events", _ingest_body(), key)[0].startswith("200")
    with mock.patch.object(DjangoPostgres, "is_usable", autospec=True) as is_usable:
        assert _wsgi("/api/v1/events", _ingest_body(), key)[0].startswith("200")
    assert is_usable.call_count == 0

    old = connection.connection
    assert socket_quiet(old)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as other:
        assert other.execute("SELECT pg_terminate_backend(%s, 5000)", [pid]).fetchone()[0]
    assert not socket_quiet(old)

    status, content = _wsgi("/api/v1/events", _ingest_body(n=4), key)
    assert status.startswith("200"), content
    assert json.loads(content)["accepted"] == 4
    assert connection.connection is not old


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("pooling", "expected"), [(True, "200"), (False, "500")])
def test_transaction_pooling_makes_the_staging_table_in_each_batch(
    pooling: bool, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind pgbouncer in transaction mode the next transaction may run on a server
    connection that never saw this one's temporary table; ``DISCARD TEMP`` between requests
    stands in for that switch. With ``DATABASE_TRANSACTION_POOLING`` (Django's
    ``DISABLE_SERVER_SIDE_CURSORS``) ingest still works; without it, the same switch breaks
    ingest, which is why the setting exists."""
    CustomerFactory(external_id="acme", name="Acme")
    key = api_key_create(name="lean", scope="ingest").plaintext
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", pooling)
    assert _wsgi("/api/v1/events", _ingest_body(), key)[0].startswith("200")
    with connection.cursor() as cursor:
        cursor.execute("DISCARD TEMP")
    status, content = _wsgi("/api/v1/events", _ingest_body(n=3), key)
    assert status.startswith(expected), content
    if pooling:
        assert json.loads(content)["accepted"] == 3


@pytest.mark.django_db(transaction=True)
def test_an_api_request_costs_one_redis_round_trip_for_key_and_rate_limit() -> None:
    """The API-key cache GET and the rate-limit count go out in one pipelined write (they were
    two round trips); the count still limits (tests/accounts/test_api_rate_limit.py)."""
    CustomerFactory(external_id="acme", name="Acme")
    key = api_key_create(name="lean", scope="read").plaintext
    assert _wsgi("/api/v1/customers", None, key)[0].startswith("200")  # caches the key
    sent: list[bytes] = []
    original = redis.connection.AbstractConnection.send_packed_command

    def spy(self: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(b"".join(command) if isinstance(command, list) else bytes(command))
        return original(self, command, *args, **kwargs)

    with mock.patch.object(redis.connection.AbstractConnection, "send_packed_command", spy):
        status, content = _wsgi("/api/v1/customers", None, key)
    assert status.startswith("200"), content
    assert len(sent) == 1, sent
    assert b"GET" in sent[0] and b"EVALSHA" in sent[0]


@pytest.mark.django_db(transaction=True)
def test_the_pipelined_count_reloads_its_script_when_redis_forgot_it() -> None:
    """After a Redis restart (``SCRIPT FLUSH`` here) the queued ``EVALSHA`` answers NOSCRIPT:
    the script is loaded and the pair sent again, and the request is counted once."""
    CustomerFactory(external_id="acme", name="Acme")
    key = api_key_create(name="lean", scope="read").plaintext
    assert _wsgi("/api/v1/customers", None, key)[0].startswith("200")
    client = throttling._count_script().registered_client
    client.script_flush()
    assert _wsgi("/api/v1/customers", None, key)[0].startswith("200")
    prefix = key.split("_", 2)[1]
    counters = list(client.scan_iter(match=f"*throttle_api_key_{prefix}:*"))
    assert sum(int(client.get(c)) for c in counters) == 2  # one window, or two at a minute's turn
