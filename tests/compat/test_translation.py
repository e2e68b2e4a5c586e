"""The adapters' pure translations: timestamps, field mapping, error codes (no server)."""

from __future__ import annotations

from typing import Any

import pytest

from metering.compat.adapter import Refused, Translated, timestamp_from_iso, timestamp_from_unix
from metering.compat.lago import lago_error_code, lago_event
from metering.compat.metronome import metronome_event
from metering.compat.openmeter import cloudevent
from metering.compat.orb import orb_event


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (1763701200, "2025-11-21T05:00:00Z"),
        (1763701200.5, "2025-11-21T05:00:00.500000Z"),
        ("1763701200.000001", "2025-11-21T05:00:00.000001Z"),
        (" 1763701200 ", "2025-11-21T05:00:00Z"),
        ("2025-11-21T06:00:00+01:00", "2025-11-21T05:00:00Z"),  # an ISO string is read as such
    ],
)
def test_lago_unix_seconds_become_rfc3339_exactly(sent: Any, expected: str) -> None:
    assert timestamp_from_unix(sent) == expected


@pytest.mark.parametrize("sent", [True, "soon", "NaN", "Infinity", 10**20, [1], {"s": 1}])
def test_unreadable_unix_timestamps_pass_through_for_the_service_to_reject(sent: Any) -> None:
    assert timestamp_from_unix(sent) == sent


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("2026-11-02T10:15:00Z", "2026-11-02T10:15:00Z"),
        ("2026-11-02T10:15:00", "2026-11-02T10:15:00Z"),  # no offset: UTC (Orb)
        ("2026-11-02T11:15:00.250+01:00", "2026-11-02T10:15:00.250000Z"),
        ("2026-11-02", "2026-11-02"),  # a date is not a date-time: left for the service to reject
        ("2026-13-02T10:15:00Z", "2026-13-02T10:15:00Z"),
        (1763701200, 1763701200),
    ],
)
def test_iso_timestamps_become_rfc3339_utc(sent: Any, expected: Any) -> None:
    assert timestamp_from_iso(sent) == expected


def test_lago_prefers_the_customer_id_and_drops_nulls() -> None:
    both = lago_event(
        {
            "transaction_id": "t",
            "external_customer_id": "acme",
            "external_subscription_id": "sub",
            "code": "c",
            "timestamp": None,
            "properties": None,
            "precise_total_amount_cents": None,
        }
    )
    assert both == Translated("lago", {"id": "t", "customer": "acme", "type": "c"})
    only_sub = lago_event(
        {
            "transaction_id": "t",
            "external_subscription_id": "sub",
            "code": "c",
            "timestamp": 0,
            "properties": {"n": 1},
        }
    )
    assert only_sub.event == {
        "id": "t",
        "customer": "sub",
        "type": "c",
        "timestamp": "1970-01-01T00:00:00Z",
        "properties": {"n": 1},
    }


def test_each_vendor_maps_its_fields_to_the_wire_format() -> None:
    wire = {
        "id": "k",
        "customer": "acme",
        "type": "t",
        "timestamp": "2026-11-02T10:15:00Z",
        "properties": {"n": 1},
    }
    assert orb_event(
        {
            "idempotency_key": "k",
            "external_customer_id": "acme",
            "event_name": "t",
            "timestamp": "2026-11-02T10:15:00",
            "properties": {"n": 1},
        }
    ) == Translated("orb", wire)
    assert (
        orb_event(
            {
                "idempotency_key": "k",
                "customer_id": "acme",
                "event_name": "t",
                "timestamp": "2026-11-02T10:15:00Z",
                "properties": {"n": 1},
            }
        ).event
        == wire
    )
    assert metronome_event(
        {
            "transaction_id": "k",
            "customer_id": "acme",
            "event_type": "t",
            "timestamp": "2026-11-02T10:15:00Z",
            "properties": {"n": 1},
        }
    ) == Translated("metronome", wire)
    assert cloudevent(
        {
            "id": "k",
            "source": "svc",
            "specversion": "1.0",
            "type": "t",
            "subject": "acme",
            "time": "2026-11-02T10:15:00Z",
            "data": {"n": 1},
        }
    ) == Translated("openmeter:svc", wire)


def test_cloudevents_without_source_or_version_are_refused() -> None:
    assert cloudevent({"id": "k", "specversion": "1.0", "type": "t"}) == Refused(
        "k", "missing_source", "source is required (a non-empty string)."
    )
    assert (
        cloudevent({"id": "k", "source": "s", "specversion": "0.3"}).reason == "invalid_specversion"
    )  # type: ignore[union-attr]
    assert cloudevent("nope").reason == "invalid_event"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("missing_id", ("transaction_id", "value_is_mandatory")),
        ("conflict", ("transaction_id", "value_already_exist")),
        ("missing_customer", ("external_subscription_id", "value_is_mandatory")),
        ("missing_type", ("code", "value_is_mandatory")),
        ("invalid_timestamp", ("timestamp", "invalid_format")),
        ("imprecise_number", ("properties", "imprecise_number")),
        ("invalid_event", ("event", "invalid_event")),
    ],
)
def test_lago_error_codes(reason: str, expected: tuple[str, str]) -> None:
    assert lago_error_code(reason) == expected
