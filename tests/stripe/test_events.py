"""Parsing verified webhook bodies and the per-app handler registry."""

from __future__ import annotations

import json

import pytest

from invoicing.stripe.events import (
    PAYLOAD_INVALID,
    HandlerRegistry,
    StripeEvent,
    WebhookPayloadError,
    parse_event,
)
from tests.stripe_support import fixture_object, stripe_event


def test_parse_event_reads_the_envelope_and_the_object() -> None:
    invoice = fixture_object("invoice", id="in_42", status="paid")
    event = parse_event(
        stripe_event(
            "invoice.paid",
            invoice,
            id="evt_1",
            created=1_795_000_000,
            previous_attributes={"status": "open"},
        )
    )
    assert (event.id, event.type, event.created, event.livemode) == (
        "evt_1",
        "invoice.paid",
        1_795_000_000,
        False,
    )
    assert (event.object_id, event.object_type) == ("in_42", "invoice")
    assert event.data_object["status"] == "paid"
    assert event.previous_attributes == {"status": "open"}
    assert event.api_version == "2026-10-28.endive"


def test_parse_event_of_every_fixture_type_we_expect() -> None:
    for event_type, name in [
        ("charge.refunded", "charge"),
        ("refund.updated", "refund"),
        ("charge.dispute.created", "dispute"),
        ("payment_intent.payment_failed", "payment_intent"),
    ]:
        event = parse_event(stripe_event(event_type, name))
        assert event.object_type == name
        assert event.previous_attributes is None


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"object": "charge"}',
        b'{"object": "event", "id": "evt_1", "type": "x", "created": 1}',  # no data
        b'{"object": "event", "id": "evt_1", "type": "x", "created": 1, "data": {"object": 3}}',
        b'{"object": "event", "type": "x", "created": 1, "data": {"object": {}}}',
        b'{"object": "event", "id": "evt_1", "type": "", "created": 1, "data": {"object": {}}}',
        b'{"object": "event", "id": "evt_1", "type": "x", "created": "1", "data": {"object": {}}}',
        b'{"object": "event", "id": "evt_1", "type": "x", "created": true, "data": {"object": {}}}',
    ],
)
def test_parse_event_refuses_what_is_not_an_event(body: bytes) -> None:
    with pytest.raises(WebhookPayloadError) as caught:
        parse_event(body)
    assert caught.value.code == PAYLOAD_INVALID


def event_of(event_type: str) -> StripeEvent:
    return parse_event(
        json.dumps(
            {
                "object": "event",
                "id": "evt_x",
                "type": event_type,
                "created": 1,
                "data": {"object": {}},
            }
        ).encode()
    )


def test_registry_exact_and_prefix_patterns_in_registration_order() -> None:
    registry = HandlerRegistry()
    calls: list[str] = []

    def on_paid(event: StripeEvent) -> None:
        calls.append(f"paid:{event.type}")

    @registry.handles("charge.dispute.*", "charge.refunded")
    def on_charge(event: StripeEvent) -> None:
        calls.append(f"charge:{event.type}")

    registry.register("invoice.paid", on_paid)
    registry.register("invoice.paid", on_paid)  # idempotent
    registry.register("invoice.*", on_charge)
    assert registry.handlers_for("invoice.paid") == [on_paid, on_charge]
    assert registry.handlers_for("charge.dispute.closed") == [on_charge]
    assert registry.handlers_for("charge.refunded") == [on_charge]
    assert registry.handlers_for("charge.succeeded") == []  # unknown types: stored, ignored
    assert registry.handlers_for("invoicex.paid") == []
    for handler in registry.handlers_for("invoice.paid"):
        handler(event_of("invoice.paid"))
    assert calls == ["paid:invoice.paid", "charge:invoice.paid"]
    registry.unregister("invoice.*", on_charge)
    assert registry.handlers_for("invoice.paid") == [on_paid]


@pytest.mark.parametrize("pattern", ["", "*", "charge.*.created", "charge*", "a.*.*"])
def test_registry_refuses_other_wildcards(pattern: str) -> None:
    with pytest.raises(ValueError):
        HandlerRegistry().register(pattern, lambda event: None)
