"""Shared fixtures. Tests run against real PostgreSQL and Redis (see bin/tally test)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import Customer
from accounts.services import api_key_create
from tests.factories import CustomerFactory


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
