"""OpenMeter's official SDK (openmeter) and the cloudevents package against
/compat/openmeter on the live test server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from cloudevents.conversion import to_structured
from cloudevents.http import CloudEvent
from corehttp.exceptions import ClientAuthenticationError, HttpResponseError
from openmeter import Client
from openmeter.models import Event

from metering.compat.openmeter import NAMESPACE_MAX, namespace_for
from metering.models import UsageEvent
from tests.compat.conftest import Tenant

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client_for(tenant: Tenant, closing: Callable[[Any], Any]) -> Callable[..., Client]:
    """The vendor SDK pointed at the live server (no retries), closed after the test."""

    def make(key: str | None = None) -> Client:
        return closing(
            Client(endpoint=tenant.url("openmeter"), token=key or tenant.key, retry_total=0)
        )

    return make


def _event(
    event_id: str, at: datetime | None, tokens: int, source: str = "svc-a", subject: str = "acme"
) -> Event:
    return Event(
        id=event_id,
        source=source,
        specversion="1.0",
        type="llm_call",
        subject=subject,
        time=at,
        data={"tokens": tokens},
    )


def test_events_are_counted_once_per_source_and_resends_are_duplicates(
    client_for: Callable[..., Client], tenant: Tenant, ago: Callable[..., datetime]
) -> None:
    client = client_for()
    at = ago(minutes=15)
    assert client.events.ingest_event(_event("om-1", at, 10)) is None  # cloudevents+json
    batch = [
        _event("om-2", at, 20),
        _event("om-1", None, 30, source="svc-b"),
        _event("om-3", at, 40, subject="sub_acme_pro"),
    ]
    client.events.ingest_events(batch)  # cloudevents-batch+json
    client.events.ingest_events_json(_event("om-4", at, 1))  # application/json, one event
    # the same id from another source is another event
    assert tenant.usage("tokens") == Decimal(101)
    assert sorted(
        UsageEvent.objects.filter(event_id="om-1").values_list("namespace", flat=True)
    ) == ["openmeter:svc-a", "openmeter:svc-b"]

    client.events.ingest_event(_event("om-1", at, 10))
    client.events.ingest_events(batch)
    assert tenant.usage("tokens") == Decimal(101)


def test_cloudevents_package_structured_mode(tenant: Tenant, ago: Callable[..., datetime]) -> None:
    event = CloudEvent(
        {
            "id": "ce-1",
            "source": "//billing/gateway",
            "type": "llm_call",
            "subject": "acme",
            "time": ago(minutes=2).isoformat(),
        },
        {"tokens": 7},
    )
    headers, body = to_structured(event)
    response = httpx.post(
        tenant.url("openmeter") + "/api/v1/events",
        content=body,
        headers={**headers, "Authorization": f"Bearer {tenant.key}"},
    )
    assert response.status_code == 204
    assert tenant.usage("tokens") == Decimal(7)


def test_invalid_event_raises_http_response_error_with_problem_details(
    client_for: Callable[..., Client], tenant: Tenant, ago: Callable[..., datetime]
) -> None:
    client = client_for()
    with pytest.raises(HttpResponseError) as raised:
        client.events.ingest_events(
            [_event("om-ok", ago(minutes=1), 5), _event("om-bad", ago(minutes=1), 5, subject="")]
        )
    error = raised.value
    assert error.status_code == 400
    assert error.model is not None and "1: invalid_customer" in error.model.detail
    problem = error.response.json()
    assert problem["extensions"]["validationErrors"] == [
        {
            "index": 1,
            "id": "om-bad",
            "source": "svc-a",
            "reason": "invalid_customer",
            "message": "customer must be a string of 1-128 characters without NUL.",
        }
    ]
    assert tenant.usage("tokens") == Decimal(5)


def test_missing_source_and_wrong_content_type_are_refused(
    tenant: Tenant, ago: Callable[..., datetime]
) -> None:
    url, auth = tenant.url("openmeter") + "/api/v1/events", f"Bearer {tenant.key}"
    event = {"id": "x", "specversion": "1.0", "type": "llm_call", "subject": "acme"}
    no_source = httpx.post(url, json=event, headers={"Authorization": auth})
    assert no_source.status_code == 400
    assert no_source.json()["extensions"]["validationErrors"][0]["reason"] == "missing_source"
    as_text = httpx.post(
        url, content=b"{}", headers={"Authorization": auth, "Content-Type": "text/plain"}
    )
    assert as_text.status_code == 415
    assert as_text.headers["Content-Type"] == "application/problem+json"


def test_unknown_key_raises_client_authentication_error(
    client_for: Callable[..., Client], tenant: Tenant, ago: Callable[..., datetime]
) -> None:
    with pytest.raises(ClientAuthenticationError):
        client_for(key="tly_nope_nope").events.ingest_event(_event("x", ago(minutes=1), 1))


def test_long_sources_map_to_one_bounded_namespace() -> None:
    long = "https://example.com/" + "a" * 100
    assert namespace_for("svc-a") == "openmeter:svc-a"
    assert len(namespace_for(long)) <= NAMESPACE_MAX
    assert namespace_for(long) == namespace_for(long) != namespace_for(long + "b")
