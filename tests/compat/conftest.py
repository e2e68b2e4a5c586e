"""Fixtures for the vendor-SDK tests: a customer with an alias, two meters, an ingest key,
usage read back through Tally's own API, and a guard that keeps every socket on loopback
(the SDKs must not phone home)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import Customer
from accounts.services import api_key_create, customer_alias_add
from metering.services import meter_create, rollup_drain
from tests.factories import CustomerFactory

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_real_connect = socket.socket.connect


def _loopback_connect(sock: socket.socket, address: Any) -> Any:
    if isinstance(address, tuple) and address[0] not in LOOPBACK:
        raise AssertionError(f"network access beyond loopback: {address!r}")
    return _real_connect(sock, address)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any connection to a non-loopback address (telemetry, a vendor's real API)."""
    monkeypatch.setattr(socket.socket, "connect", _loopback_connect)
    for name in ("ORB_BASE_URL", "METRONOME_BASE_URL", "ORB_API_KEY", "METRONOME_BEARER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    yield


@dataclass
class Tenant:
    customer: Customer
    key: str  # plaintext ingest key
    read_api: APIClient
    base: str  # live server URL

    def url(self, vendor: str) -> str:
        return f"{self.base}/compat/{vendor}"

    def usage(self, meter: str, customer: str = "acme") -> Decimal:
        """Roll up what is queued, then read the meter's total from GET .../usage."""
        rollup_drain()
        now = datetime.now(UTC)
        response = self.read_api.get(
            f"/api/v1/customers/{customer}/usage",
            {
                "meter": meter,
                "start": (now - timedelta(days=3)).isoformat(),
                "end": (now + timedelta(days=1)).isoformat(),
                "window": "day",
            },
        )
        assert response.status_code == 200, response.content
        return Decimal(response.json()["total"] or "0")


@pytest.fixture
def tenant(live_server: Any, db: None) -> Tenant:
    customer = CustomerFactory(external_id="acme", name="Acme")
    customer_alias_add(customer=customer, alias="sub_acme_pro")
    meter_create(
        key="tokens",
        name="Tokens",
        event_type="llm_call",
        aggregation="sum",
        value_property="tokens",
    )
    meter_create(key="calls", name="Calls", event_type="api_call", aggregation="count")
    issued = api_key_create(name="vendor-sdk", scope="ingest")
    reader = APIClient()
    reader.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(name='r', scope='read').plaintext}"
    )
    return Tenant(customer, issued.plaintext, reader, live_server.url)


@pytest.fixture
def closing() -> Iterator[Callable[[Any], Any]]:
    """``closing(sdk_client)``: close it after the test, so the live server's keep-alive
    threads (each holding a database connection) end before the test database is dropped."""
    opened: list[Any] = []

    def register(client: Any) -> Any:
        opened.append(client)
        return client

    yield register
    for client in opened:
        client.close()


@pytest.fixture
def ago() -> Callable[..., datetime]:
    """``ago(minutes=5)`` -> an aware UTC datetime that far in the past (inside the window)."""

    def make(**delta: float) -> datetime:
        return datetime.now(UTC).replace(microsecond=0) - timedelta(**delta)

    return make
