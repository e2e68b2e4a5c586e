"""Orb's official SDK (orb-billing) against /compat/orb/v1 on the live test server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import orb
import pytest

from tests.compat.conftest import Tenant

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client_for(tenant: Tenant, closing: Callable[[Any], Any]) -> Callable[..., orb.Orb]:
    """The vendor SDK pointed at the live server (no retries), closed after the test."""

    def make(key: str | None = None) -> orb.Orb:
        return closing(
            orb.Orb(api_key=key or tenant.key, base_url=tenant.url("orb") + "/v1", max_retries=0)
        )

    return make


def _event(key: str, at: datetime | str, **fields: object) -> dict[str, object]:
    return {
        "event_name": "api_call",
        "idempotency_key": key,
        "timestamp": at,
        "properties": {"endpoint": "/v1/x"},
        **fields,
    }


def test_events_are_counted_once_and_resends_are_duplicates(
    client_for: Callable[..., orb.Orb], tenant: Tenant, ago: Callable[..., datetime]
) -> None:
    client = client_for()
    at = ago(minutes=10)
    events = [
        _event("orb-1", at, external_customer_id="acme"),
        # Orb's convention: an ISO 8601 timestamp without offset is UTC
        _event("orb-2", at.replace(tzinfo=None), customer_id="sub_acme_pro"),
        _event("orb-3", at.isoformat().replace("+00:00", "Z"), external_customer_id="acme"),
    ]
    first = client.events.ingest(events=events, extra_query={"debug": "true"})
    assert first.validation_failed == []
    assert first.to_dict()["debug"] == {"duplicate": [], "ingested": ["orb-1", "orb-2", "orb-3"]}
    assert tenant.usage("calls") == Decimal(3)

    again = client.events.ingest(events=events, extra_query={"debug": "true"})
    assert again.validation_failed == []
    assert again.to_dict()["debug"]["duplicate"] == ["orb-1", "orb-2", "orb-3"]
    assert tenant.usage("calls") == Decimal(3)


def test_invalid_event_raises_request_validation_error_and_others_are_ingested(
    client_for: Callable[..., orb.Orb], tenant: Tenant, ago: Callable[..., datetime]
) -> None:
    client = client_for()
    events = [
        _event("orb-ok", ago(minutes=1), external_customer_id="acme"),
        _event("orb-late", ago(days=-1), external_customer_id="acme"),
        _event("orb-nobody", ago(minutes=1)),
    ]
    with pytest.raises(orb.RequestValidationError) as raised:
        client.events.ingest(events=events)
    error = raised.value
    assert error.status_code == 400
    failed = {f["idempotency_key"]: f["validation_errors"] for f in error.body["validation_failed"]}
    assert set(failed) == {"orb-late", "orb-nobody"}
    assert failed["orb-late"][0].startswith("timestamp_in_future")
    assert failed["orb-nobody"][0].startswith("missing_customer")
    assert len(error.validation_errors) == 2
    assert tenant.usage("calls") == Decimal(1)


def test_unknown_key_raises_orb_authentication_error(
    client_for: Callable[..., orb.Orb], tenant: Tenant, ago: Callable[..., datetime]
) -> None:
    with pytest.raises(orb.OrbAuthenticationError) as raised:
        client_for(key="tly_nope_nope").events.ingest(
            events=[_event("x", ago(minutes=1), external_customer_id="acme")]
        )
    assert raised.value.status_code == 401


def test_read_scope_key_is_refused(
    client_for: Callable[..., orb.Orb], tenant: Tenant, ago: Callable[..., datetime]
) -> None:
    from accounts.services import api_key_create

    reader = api_key_create(name="reader", scope="read").plaintext
    with pytest.raises(orb.PermissionDeniedError) as raised:
        client_for(key=reader).events.ingest(
            events=[_event("x", ago(minutes=1), external_customer_id="acme")]
        )
    assert raised.value.status_code == 403
    assert raised.value.body["detail"] == "This endpoint needs an API key with scope 'ingest'."


def test_unknown_customer_is_accepted_and_counted_once_the_alias_exists(
    client_for: Callable[..., orb.Orb], tenant: Tenant, ago: Callable[..., datetime]
) -> None:
    from accounts.services import customer_alias_add
    from metering.services import events_attribute

    sent = client_for().events.ingest(
        events=[_event("orb-early", ago(minutes=5), external_customer_id="orb_cus_9")],
        extra_query={"debug": "true"},
    )
    assert sent.validation_failed == []
    assert sent.to_dict()["debug"]["ingested"] == ["orb-early"]
    assert tenant.usage("calls") == 0

    customer_alias_add(customer=tenant.customer, alias="orb_cus_9")
    events_attribute()
    assert tenant.usage("calls") == Decimal(1)
