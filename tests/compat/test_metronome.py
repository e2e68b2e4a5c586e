"""Metronome's official SDK (metronome-sdk) against /compat/metronome on the live test server."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import metronome
import pytest

from tests.compat.conftest import Tenant

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client_for(tenant: Tenant, closing: Callable[[Any], Any]) -> Callable[..., metronome.Metronome]:
    """The vendor SDK pointed at the live server (no retries), closed after the test."""

    def make(key: str | None = None) -> metronome.Metronome:
        return closing(
            metronome.Metronome(
                bearer_token=key or tenant.key, base_url=tenant.url("metronome"), max_retries=0
            )
        )

    return make


def _usage(txn: str, at: datetime, tokens: int, customer: str = "acme") -> dict[str, object]:
    return {
        "transaction_id": txn,
        "customer_id": customer,
        "event_type": "llm_call",
        "timestamp": at.isoformat().replace("+00:00", "Z"),
        "properties": {"tokens": tokens},
    }


def test_usage_is_counted_once_and_resends_are_duplicates(
    client_for: Callable[..., metronome.Metronome], tenant: Tenant, ago: Callable[..., datetime]
) -> None:
    client = client_for()
    at = ago(minutes=20)
    usage = [_usage("m-1", at, 1000), _usage("m-2", at, 250, customer="sub_acme_pro")]
    assert client.v1.usage.ingest(usage=usage) is None
    assert tenant.usage("tokens") == Decimal(1250)

    assert client.v1.usage.ingest(usage=usage) is None
    assert tenant.usage("tokens") == Decimal(1250)


def test_gzip_body_is_accepted(tenant: Tenant, ago: Callable[..., datetime]) -> None:
    body = gzip.compress(json.dumps([_usage("m-gz", ago(minutes=3), 42)]).encode())
    response = httpx.post(
        tenant.url("metronome") + "/v1/ingest",
        content=body,
        headers={
            "Authorization": f"Bearer {tenant.key}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
    )
    assert (response.status_code, response.content) == (200, b"")
    assert tenant.usage("tokens") == Decimal(42)


def test_invalid_usage_raises_bad_request_with_per_event_errors(
    client_for: Callable[..., metronome.Metronome], tenant: Tenant, ago: Callable[..., datetime]
) -> None:
    client = client_for()
    bad = _usage("m-bad", ago(minutes=1), 5) | {"timestamp": "2026-13-45T00:00:00Z"}
    with pytest.raises(metronome.BadRequestError) as raised:
        client.v1.usage.ingest(usage=[_usage("m-ok", ago(minutes=1), 9), bad])
    assert raised.value.status_code == 400
    assert raised.value.body["errors"] == [
        {
            "index": 1,
            "transaction_id": "m-bad",
            "reason": "invalid_timestamp",
            "message": "timestamp must be RFC 3339 with an offset, e.g. 2026-11-02T10:15:00Z.",
        }
    ]
    assert tenant.usage("tokens") == Decimal(9)


def test_too_many_events_is_a_413_and_nothing_is_stored(
    client_for: Callable[..., metronome.Metronome],
    tenant: Tenant,
    ago: Callable[..., datetime],
    settings: object,
) -> None:
    settings.METERING_MAX_EVENTS_PER_REQUEST = 2  # type: ignore[attr-defined]
    at = ago(minutes=1)
    with pytest.raises(metronome.APIStatusError) as raised:
        client_for().v1.usage.ingest(usage=[_usage(f"m-{i}", at, 1) for i in range(3)])
    assert raised.value.status_code == 413
    assert raised.value.body["code"] == "too_many_events"
    assert tenant.usage("tokens") == 0


def test_customer_bound_key_cannot_send_for_another_customer(
    client_for: Callable[..., metronome.Metronome], tenant: Tenant, ago: Callable[..., datetime]
) -> None:
    from accounts.services import api_key_create
    from tests.factories import CustomerFactory

    other = CustomerFactory(external_id="globex")
    bound = api_key_create(name="globex-only", scope="ingest", customer=other).plaintext
    with pytest.raises(metronome.BadRequestError) as raised:
        client_for(key=bound).v1.usage.ingest(usage=[_usage("m-x", ago(minutes=1), 1)])
    assert raised.value.body["errors"][0]["reason"] == "customer_not_allowed"
    assert tenant.usage("tokens") == 0
