"""Lago's official SDK (lago-python-client) against /compat/lago on the live test server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models.event import BatchEvent, Event

from tests.compat.conftest import Tenant

pytestmark = pytest.mark.django_db(transaction=True)


def _client(tenant: Tenant, key: str | None = None) -> Client:
    # The SDK urljoins "api/v1/" onto api_url: the trailing slash keeps /compat/lago.
    return Client(api_key=key or tenant.key, api_url=tenant.url("lago") + "/", max_retries=0)


def _event(txn: str, tokens: int, at: datetime | None, **extra: object) -> Event:
    return Event(
        transaction_id=txn,
        external_subscription_id="sub_acme_pro",
        code="llm_call",
        timestamp=int(at.timestamp()) if at else None,
        properties={"tokens": tokens},
        **extra,
    )


def test_events_are_counted_once_and_resends_are_duplicates(
    tenant: Tenant, ago: Callable[..., datetime]
) -> None:
    client = _client(tenant)
    at = ago(minutes=30)
    created = client.events.create(_event("lago-1", 100, at))
    assert created is not None
    assert created.transaction_id == "lago-1"
    assert created.timestamp == at.isoformat().replace("+00:00", "Z")
    # fractional seconds as a string, and no timestamp at all (null: the time received)
    client.events.create(
        Event(
            transaction_id="lago-2",
            external_subscription_id="acme",
            code="llm_call",
            timestamp=f"{at.timestamp() + 0.25}",
            properties={"tokens": 20},
        )
    )
    batch = BatchEvent(events=[_event("lago-3", 3, None), _event("lago-4", 4, at)])
    client.events.batch_create(batch)
    assert tenant.usage("tokens") == Decimal(127)

    client.events.batch_create(batch)  # a retry of the whole batch succeeds ...
    again = client.events.create(_event("lago-1", 100, at))
    assert again is not None and again.transaction_id == "lago-1"
    assert tenant.usage("tokens") == Decimal(127)  # ... and counts nothing twice


def test_invalid_event_is_a_lago_422_with_error_details(
    tenant: Tenant, ago: Callable[..., datetime]
) -> None:
    client = _client(tenant)
    future = ago(days=-2)
    with pytest.raises(LagoApiError) as raised:
        client.events.create(_event("lago-future", 5, future))
    assert raised.value.status_code == 422
    assert raised.value.response == {
        "status": 422,
        "error": "Unprocessable Entity",
        "code": "validation_errors",
        "error_details": {"timestamp": ["timestamp_in_future"]},
    }
    assert tenant.usage("tokens") == 0


def test_batch_reports_failures_by_index_and_keeps_the_valid_events(
    tenant: Tenant, ago: Callable[..., datetime]
) -> None:
    client = _client(tenant)
    at = ago(minutes=5)
    good, bad = _event("lago-ok", 7, at), _event("lago-bad", 1, at)
    bad_props = bad.dict() | {"properties": {"tokens": 1}, "timestamp": "yesterday-ish"}
    with pytest.raises(LagoApiError) as raised:
        client.events.batch_create(BatchEvent(events=[good, Event(**bad_props)]))
    assert raised.value.status_code == 422
    assert raised.value.response["error_details"] == {"1": {"timestamp": ["invalid_format"]}}
    assert tenant.usage("tokens") == Decimal(7)


def test_same_transaction_id_with_other_content_is_value_already_exist(
    tenant: Tenant, ago: Callable[..., datetime]
) -> None:
    client = _client(tenant)
    at = ago(minutes=5)
    client.events.create(_event("lago-c", 10, at))
    with pytest.raises(LagoApiError) as raised:
        client.events.create(_event("lago-c", 99, at))
    assert raised.value.response["error_details"] == {"transaction_id": ["value_already_exist"]}
    assert tenant.usage("tokens") == Decimal(10)


def test_unknown_key_is_a_lago_401(tenant: Tenant, ago: Callable[..., datetime]) -> None:
    with pytest.raises(LagoApiError) as raised:
        _client(tenant, key="tly_nope_nope").events.create(_event("x", 1, ago(minutes=1)))
    assert raised.value.status_code == 401
    assert raised.value.response["error"] == "Unauthorized"


def test_body_over_the_ingest_limit_is_a_lago_413(
    tenant: Tenant, ago: Callable[..., datetime], settings: object
) -> None:
    settings.METERING_MAX_REQUEST_BYTES = 300  # type: ignore[attr-defined]
    events = [_event(f"big-{i}", 1, ago(minutes=1)) for i in range(5)]
    with pytest.raises(LagoApiError) as raised:
        _client(tenant).events.batch_create(BatchEvent(events=events))
    assert raised.value.status_code == 413
    assert raised.value.response["code"] == "payload_too_large"
    assert raised.value.response["error_details"] == {"max_request_bytes": 300}
    assert tenant.usage("tokens") == 0
