"""Every event a vendor adapter refuses ends up in the rejected queue with its vendor and
reason, also the ones refused before they reach the ingest service (a CloudEvent without
``source``, a Lago ``event`` that is not an object); the vendors' answers stay as they were."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from metering.models import RejectedEvent, ReviewStatus, UsageEvent
from metering.services import rejected_replay

pytestmark = pytest.mark.django_db

BATCH = "application/cloudevents-batch+json"


@pytest.fixture
def ingest_api(api_client_for: Callable[..., APIClient], customer: Any) -> APIClient:
    return api_client_for("ingest")


def _recent() -> str:
    return (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0).isoformat()


def _rejected_total() -> float:
    return REGISTRY.get_sample_value("tally_events_total", {"outcome": "rejected"}) or 0.0


def _rows() -> list[tuple[str, str, str, str]]:
    return list(
        RejectedEvent.objects.order_by("id").values_list(
            "vendor", "namespace", "event_id", "reason"
        )
    )


def test_openmeter_refusals_are_kept_as_sent_and_the_answer_is_unchanged(
    ingest_api: APIClient,
) -> None:
    good = {
        "id": "ok-1",
        "source": "svc",
        "specversion": "1.0",
        "type": "api_call",
        "subject": "acme",
        "time": _recent(),
    }
    no_source = {
        "id": "ns-1",
        "specversion": "1.0",
        "type": "api_call",
        "subject": "acme",
        "data": {"n": 1},
    }
    old_spec = {"id": "sv-1", "source": "svc", "specversion": "0.3", "type": "api_call"}
    before = _rejected_total()
    response = ingest_api.post(
        "/compat/openmeter/api/v1/events",
        json.dumps([good, no_source, old_spec, 42]),
        content_type=BATCH,
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": "3 of 4 events were not ingested (1: missing_source; 2: invalid_specversion;"
        " 3: invalid_event); the others were.",
        "instance": "/compat/openmeter/api/v1/events",
        "extensions": {
            "code": "validation_error",
            "validationErrors": [
                {
                    "index": 1,
                    "id": "ns-1",
                    "source": None,
                    "reason": "missing_source",
                    "message": "source is required (a non-empty string).",
                },
                {
                    "index": 2,
                    "id": "sv-1",
                    "source": "svc",
                    "reason": "invalid_specversion",
                    "message": 'specversion must be "1.0".',
                },
                {
                    "index": 3,
                    "id": "",
                    "source": None,
                    "reason": "invalid_event",
                    "message": "A CloudEvent must be a JSON object.",
                },
            ],
        },
    }
    assert UsageEvent.objects.get().namespace == "openmeter:svc"
    assert _rows() == [
        ("openmeter", "", "ns-1", "missing_source"),
        ("openmeter", "", "sv-1", "invalid_specversion"),
        ("openmeter", "", "", "invalid_event"),
    ]
    first = RejectedEvent.objects.order_by("id").first()
    assert first is not None
    assert first.payload == no_source  # as the vendor sent it: support sees what arrived
    assert first.api_key == ingest_api.api_key  # type: ignore[attr-defined]
    assert first.message == "source is required (a non-empty string)."
    assert _rejected_total() - before == 3


def test_openmeter_single_event_that_is_not_an_object_is_kept(ingest_api: APIClient) -> None:
    response = ingest_api.post(
        "/compat/openmeter/api/v1/events", "[1, 2]", content_type="application/cloudevents+json"
    )
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "application/cloudevents+json carries one CloudEvent object."
    )
    assert _rows() == [("openmeter", "", "", "invalid_event")]
    assert RejectedEvent.objects.get().payload == [1, 2]


def test_replaying_a_refused_cloudevent_translates_it_again(ingest_api: APIClient) -> None:
    event = {
        "id": "ns-2",
        "specversion": "1.0",
        "type": "api_call",
        "subject": "acme",
        "time": _recent(),
    }
    ingest_api.post("/compat/openmeter/api/v1/events", json.dumps([event]), content_type=BATCH)
    row = RejectedEvent.objects.get()
    # Still without a source: refused again for the same reason, never stored as native.
    outcome = rejected_replay(rejected=row)
    assert (outcome.status, outcome.reason) == ("rejected", "missing_source")
    row.refresh_from_db()
    assert (row.status, row.reason, row.replay_outcome) == (
        ReviewStatus.OPEN,
        "missing_source",
        "rejected",
    )
    assert not UsageEvent.objects.exists()
    # Once the payload names its source, the replay lands in that source's namespace.
    RejectedEvent.objects.filter(pk=row.pk).update(payload={**event, "source": "svc"})
    row.refresh_from_db()
    assert rejected_replay(rejected=row).status == "accepted"
    stored = UsageEvent.objects.get()
    assert (stored.namespace, stored.event_id) == ("openmeter:svc", "ns-2")
    assert RejectedEvent.objects.count() == 1


def test_lago_event_that_is_not_an_object_is_kept_and_still_a_400(ingest_api: APIClient) -> None:
    response = ingest_api.post("/compat/lago/api/v1/events", {"event": "evt"}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "status": 400,
        "error": "Bad Request",
        "code": "bad_request",
        "message": "param is missing or the value is empty: event",
        "error_details": {"event": ["value_is_mandatory"]},
    }
    assert _rows() == [("lago", "", "", "invalid_event")]
    assert RejectedEvent.objects.get().payload == "evt"
    # No event at all: nothing to keep.
    assert ingest_api.post("/compat/lago/api/v1/events", {}, format="json").status_code == 400
    assert RejectedEvent.objects.count() == 1


def test_lago_batch_rejections_carry_the_vendor(ingest_api: APIClient) -> None:
    response = ingest_api.post(
        "/compat/lago/api/v1/events/batch",
        {"events": ["nope", {"transaction_id": "l-1", "code": "api_call"}]},
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["error_details"] == {
        "0": {"event": ["invalid_event"]},
        "1": {"external_subscription_id": ["value_is_mandatory"]},
    }
    assert _rows() == [
        ("lago", "lago", "", "invalid_event"),
        ("lago", "lago", "l-1", "missing_customer"),
    ]


def test_orb_rejections_carry_the_vendor(ingest_api: APIClient) -> None:
    response = ingest_api.post(
        "/compat/orb/v1/ingest",
        {
            "events": [
                7,
                {
                    "idempotency_key": "o-1",
                    "event_name": "api_call",
                    "external_customer_id": "acme",
                    "timestamp": "not a time",
                },
            ]
        },
        format="json",
    )
    assert response.status_code == 400
    assert [f["idempotency_key"] for f in response.json()["validation_failed"]] == ["", "o-1"]
    assert _rows() == [
        ("orb", "orb", "", "invalid_event"),
        ("orb", "orb", "o-1", "invalid_timestamp"),
    ]


def test_metronome_rejections_carry_the_vendor(ingest_api: APIClient) -> None:
    response = ingest_api.post(
        "/compat/metronome/v1/ingest",
        [None, {"transaction_id": "m-1", "event_type": "api_call", "timestamp": _recent()}],
        format="json",
    )
    assert response.status_code == 400
    assert [(e["index"], e["reason"]) for e in response.json()["errors"]] == [
        (0, "invalid_event"),
        (1, "missing_customer"),
    ]
    assert _rows() == [
        ("metronome", "metronome", "", "invalid_event"),
        ("metronome", "metronome", "m-1", "missing_customer"),
    ]
    # A replay of a translated row keeps using its namespace (not re-translated).
    row = RejectedEvent.objects.get(event_id="m-1")
    assert not row.is_untranslated


def test_native_rejections_have_no_vendor(ingest_api: APIClient) -> None:
    response = ingest_api.post(
        "/api/v1/events", {"events": [{"id": "n-1", "type": "x"}]}, format="json"
    )
    assert response.status_code in (200, 207), response.content
    assert _rows() == [("", "", "n-1", "missing_customer")]


def test_refused_ids_longer_than_the_column_are_cut(ingest_api: APIClient) -> None:
    long_id = "i" * 400
    ingest_api.post(
        "/compat/openmeter/api/v1/events",
        json.dumps([{"id": long_id, "specversion": "1.0"}]),
        content_type=BATCH,
    )
    row = RejectedEvent.objects.get()
    assert row.event_id == long_id[:256] and row.payload["id"] == long_id
