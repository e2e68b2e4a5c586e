"""The value range a meter accepts (absolute value below 10^20) is enforced at ingest: an
event carrying a number outside it is rejected with a reason and kept in the rejected queue,
on the native API and on the vendor endpoints (they share the ingest service)."""

from __future__ import annotations

import json

import pytest

from accounts.services import api_key_create
from metering.models import RejectedEvent, UsageEvent
from metering.selectors import usage_for_period
from metering.services import events_ingest, meter_create, rollup_drain
from tests.metering.helpers import NOW, event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]

BIG_INTEGER = "9" * 400


def post_raw(client, body: str, path: str = "/api/v1/events"):
    return client.generic("POST", path, body.encode(), content_type="application/json")


def tokens_event(event_id: str, tokens_json: str) -> str:
    """An event as JSON text, so numbers reach the parser exactly as a client wrote them."""
    return (
        f'{{"id": "{event_id}", "customer": "acme", "type": "llm",'
        f' "timestamp": "{NOW.isoformat()}", "properties": {{"tokens": {tokens_json}}}}}'
    )


@pytest.fixture
def tokens_meter():
    return meter_create(
        key="tokens", name="Tokens", event_type="llm", aggregation="sum", value_property="tokens"
    )


@pytest.mark.parametrize(
    ("tokens_json", "shown"),
    [
        ("1e27", "1e27"),
        (BIG_INTEGER, "400-digit integer"),
        ('"1e27"', "numeric string"),
        ('"123456789012345678901234567890"', "long numeric string"),
        ("-1e20", "negative, at the bound"),
    ],
)
def test_out_of_range_values_are_rejected_with_a_reason(
    api_client_for, customer, tokens_meter, tokens_json, shown
):
    body = f'{{"events": [{tokens_event("big", tokens_json)}, {tokens_event("ok", "12")}]}}'
    response = post_raw(api_client_for("ingest"), body)
    assert response.status_code == 200, shown
    outcomes = response.json()["events"]
    assert [o["status"] for o in outcomes] == ["rejected", "accepted"], shown
    assert outcomes[0]["reason"] == "value_out_of_range"
    assert "properties.tokens" in outcomes[0]["message"]
    kept = RejectedEvent.objects.get()
    assert (kept.event_id, kept.reason, kept.status) == ("big", "value_out_of_range", "open")
    assert list(UsageEvent.objects.values_list("event_id", flat=True)) == ["ok"]
    # ... and the rollups keep working for everyone.
    rollup_drain()
    usage = usage_for_period(
        customer=customer, meter=tokens_meter, start=NOW.replace(hour=0), end=NOW.replace(hour=23)
    )
    assert usage.total == 12


@pytest.mark.parametrize(
    "properties",
    [
        {"tokens": 10**20 - 1},  # the largest accepted integer
        {"tokens": -(10**20) + 1},
        {"tokens": 18446744073709551615},  # every 64-bit integer fits
        {"tokens": 1.5e19},
        {"tokens": "99999999999999999999"},
        {"order_ref": "ORD-123456789012345678901234567890"},  # not a number to a meter
        {"ok": True, "nested": {"list": [1, 2.5, "3"]}},
    ],
)
def test_values_inside_the_range_are_accepted(customer, properties):
    result = events_ingest(api_key=None, events=[event("in", type_="llm", at=NOW, **properties)])
    assert result.events[0]["status"] == "accepted", result.events[0]


def test_nested_values_are_checked_where_a_meter_could_read_them(customer):
    result = events_ingest(
        api_key=None,
        events=[event("deep", type_="llm", at=NOW, usage={"items": [1, {"tokens": 1e21}]})],
    )
    assert result.events[0]["reason"] == "value_out_of_range"
    assert "properties.usage.items.1.tokens" in result.events[0]["message"]


def test_vendor_endpoints_reject_them_too_and_keep_them_in_the_queue(customer, client):
    key = api_key_create(name="metronome", scope="ingest").plaintext
    body = json.dumps(
        [
            {
                "transaction_id": "m-big",
                "customer_id": "acme",
                "event_type": "llm",
                "timestamp": NOW.isoformat(),
                "properties": {"tokens": "1e27"},
            }
        ]
    )
    response = client.generic(
        "POST",
        "/compat/metronome/v1/ingest",
        body.encode(),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["reason"] == "value_out_of_range"
    kept = RejectedEvent.objects.get()
    assert (kept.vendor, kept.reason) == ("metronome", "value_out_of_range")
    assert not UsageEvent.objects.exists()
