"""Shared fixtures. Tests run against real PostgreSQL and Redis (see bin/tally test)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import Customer
from accounts.services import api_key_create
from tests.factories import CustomerFactory

# Tests never leave loopback, DNS included: names under the reserved example domains (RFC 2606)
# resolve here, without asking a DNS server, to one public address (example.com's own, a fact
# from IANA) so the webhook SSRF check treats them as public hosts; no test connects to them
# (deliveries go to loopback receivers with WEBHOOK_ALLOW_PRIVATE_URLS). ".invalid" never
# resolves. Every other name is resolved as usual (localhost and the like).
EXAMPLE_ADDRESS = "93.184.215.14"
_EXAMPLE_DOMAINS = ("example.com", "example.org", "example.net", "example")
_system_getaddrinfo = socket.getaddrinfo


def _hermetic_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    name = (host.decode() if isinstance(host, bytes) else str(host or "")).lower().rstrip(".")
    if name == "invalid" or name.endswith(".invalid"):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    if any(name == d or name.endswith("." + d) for d in _EXAMPLE_DOMAINS):
        number = int(port) if isinstance(port, int | str) and str(port).isdigit() else 0
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (EXAMPLE_ADDRESS, number))]
    return _system_getaddrinfo(host, port, *args, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    socket.getaddrinfo = _hermetic_getaddrinfo


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> None:
    """Usage events are partitioned by month (metering migration 0007), which creates the
    months around the real date; tests pin dates from 2025-12 to 2027-06, so those months get
    partitions too (an event outside lands in DEFAULT, which check_invariants reports)."""
    from datetime import UTC, datetime

    from metering.partitions import ensure_partitions

    with django_db_blocker.unblock():
        ensure_partitions(ahead=18, now=datetime(2025, 12, 1, tzinfo=UTC))


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    """Throttle counters and heartbeats live in Redis: start every test from empty."""
    cache.clear()
    yield


@pytest.fixture
def customer(db: None) -> Customer:
    return CustomerFactory(external_id="acme", name="Acme")


@pytest.fixture
def api_client_for(db: None) -> Callable[..., APIClient]:
    """``api_client_for("read", customer=None)`` -> an APIClient with a fresh key of that scope."""

    def make(scope: str, customer: Customer | None = None) -> APIClient:
        issued = api_key_create(name=f"test-{scope}", scope=scope, customer=customer)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
        client.api_key = issued.api_key  # type: ignore[attr-defined]
        return client

    return make


@pytest.fixture
def admin_api(api_client_for: Callable[..., APIClient]) -> APIClient:
    return api_client_for("admin")


@pytest.fixture
def read_api(api_client_for: Callable[..., APIClient]) -> APIClient:
    return api_client_for("read")


# Stripe harness fixtures (localstripe, recording client, the never-real-Stripe guard).
from tests.stripe_support import (  # noqa: E402, F401
    _stripe_never_real,
    localstripe,
    localstripe_gateway,
    localstripe_settings,
    recording_client,
    recording_default_gateway,
    recording_gateway,
)
