"""The compact ingest response (``?outcomes=not_accepted`` or ``Prefer: return=minimal``):
counts plus only the outcomes of events that were not accepted. It must list every one of
them, and asking for it must change nothing else: the same events stored, the same outcome
for each event, the same conflicts and rejections kept for review."""

from __future__ import annotations

import json

import pytest

from metering.models import EventConflict, RejectedEvent, UsageEvent
from tests.metering.helpers import NOW, event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]


def _post(client, events, *, query="", **headers):
    body = json.dumps({"events": events}).encode()
    return client.generic(
        "POST", f"/api/v1/events{query}", body, content_type="application/json", **headers
    )


def _batch(p: str) -> list[dict]:
    """One of each outcome (and several reasons), ids prefixed by ``p``: accepted events among
    them, a repeat inside the batch, a re-send of a stored event, a stored id with other
    content, an unknown customer, and rejections."""
    return [
        event(f"{p}-new-1", at=NOW, n=1),
        event(f"{p}-stored", at=NOW, n=1),  # duplicate of the stored event
        {"id": f"{p}-no-customer", "type": "api_request"},  # rejected: missing_customer
        event(f"{p}-new-2", at=NOW, n=2),
        event(f"{p}-new-1", at=NOW, n=1),  # duplicate inside the batch
        event(f"{p}-other", at=NOW, n=99),  # conflict: stored with n=5
        event(f"{p}-stranger", customer="nobody-we-know", at=NOW),  # unattributed
        {**event(f"{p}-bad-time", at=NOW), "timestamp": "yesterday"},  # rejected
        event(f"{p}-new-3", at=NOW, n=3),
        {**event(f"{p}-extra", at=NOW), "colour": "red"},  # rejected: unknown_field
    ]


def _prepare(client, p: str) -> None:
    response = _post(client, [event(f"{p}-stored", at=NOW, n=1), event(f"{p}-other", at=NOW, n=5)])
    assert response.json()["accepted"] == 2


def _normalised(outcomes: list[dict], p: str) -> list[dict]:
    return [{**o, "id": o["id"].replace(f"{p}-", "", 1)} for o in outcomes]


def test_outcomes_are_identical_with_and_without_the_compact_response(api_client_for, customer):
    client = api_client_for("ingest")
    for p in ("full", "compact"):
        _prepare(client, p)
    full = _post(client, _batch("full"))
    compact = _post(client, _batch("compact"), query="?outcomes=not_accepted")
    assert full.status_code == compact.status_code == 200
    full_body, compact_body = full.json(), compact.json()
    counts = ("accepted", "duplicate", "conflict", "unattributed", "rejected")
    assert {k: full_body[k] for k in counts} == {k: compact_body[k] for k in counts}
    assert full_body["accepted"] == 3 and full_body["rejected"] == 3
    assert full_body["duplicate"] == 2 and full_body["conflict"] == 1
    assert full_body["unattributed"] == 1
    # Every event not accepted is listed, in input order, with the very same outcome.
    not_accepted = [o for o in full_body["events"] if o["status"] != "accepted"]
    assert _normalised(compact_body["events"], "compact") == _normalised(not_accepted, "full")
    assert [o["index"] for o in compact_body["events"]] == [1, 2, 4, 5, 6, 7, 9]
    assert len(full_body["events"]) == 10
    # The same rows were stored and kept for review.
    for p in ("full", "compact"):
        stored = UsageEvent.objects.filter(event_id__startswith=f"{p}-")
        assert stored.count() == 2 + 3 + 1  # prepared, accepted, unattributed
        assert EventConflict.objects.filter(event_id=f"{p}-other").count() == 1
        rejected = RejectedEvent.objects.filter(event_id__startswith=f"{p}-")
        assert sorted(rejected.values_list("reason", flat=True)) == [
            "invalid_timestamp",
            "missing_customer",
            "unknown_field",
        ]


def test_a_batch_all_accepted_answers_counts_and_an_empty_list(api_client_for, customer):
    client = api_client_for("ingest")
    events = [event(f"ok-{i}", at=NOW, n=i) for i in range(200)]
    response = _post(client, events, query="?outcomes=not_accepted")
    assert response.status_code == 200
    assert response.json() == {
        "accepted": 200,
        "duplicate": 0,
        "conflict": 0,
        "unattributed": 0,
        "rejected": 0,
        "events": [],
    }
    assert UsageEvent.objects.count() == 200


def test_prefer_return_minimal_asks_for_it_and_is_acknowledged(api_client_for, customer):
    client = api_client_for("ingest")
    events = [event("pm-1", at=NOW), {"id": "pm-2"}, event("pm-3", at=NOW)]
    response = _post(client, events, HTTP_PREFER="respond-async, return=minimal")
    assert response.status_code == 200
    assert response["Preference-Applied"] == "return=minimal"
    assert [(o["index"], o["status"]) for o in response.json()["events"]] == [(1, "rejected")]
    # The query parameter wins over the header.
    response = _post(
        client, [event("pm-4", at=NOW)], query="?outcomes=all", HTTP_PREFER="return=minimal"
    )
    assert [o["status"] for o in response.json()["events"]] == ["accepted"]
    assert "Preference-Applied" not in response
    # Without either, every outcome is listed (the default does not change).
    assert len(_post(client, [event("pm-5", at=NOW)]).json()["events"]) == 1


def test_an_unknown_outcomes_value_is_a_validation_error_and_stores_nothing(
    api_client_for, customer
):
    response = _post(api_client_for("ingest"), [event("x-1", at=NOW)], query="?outcomes=some")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert "outcomes" in response.json()["error"]["details"]
    assert not UsageEvent.objects.exists()
