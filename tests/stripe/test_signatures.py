"""Webhook signature verification: Stripe's t=...,v1=HMAC scheme, several secrets, tolerance."""

from __future__ import annotations

import json
import time

import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st

from invoicing.stripe import signatures
from invoicing.stripe.signatures import WebhookSignatureError, verify_signature
from tests.stripe_support import sign_webhook, stripe_event

SECRET = "whsec_current_0123456789abcdef"
OLD_SECRET = "whsec_previous_fedcba9876543210"
NOW = 1_795_000_000


def error_code(payload: bytes, header: str | None, secrets: list[str], **kwargs: object) -> str:
    with pytest.raises(WebhookSignatureError) as caught:
        verify_signature(payload, header, secrets, **kwargs)  # type: ignore[arg-type]
    return caught.value.code


def test_valid_signature_is_accepted_with_its_timestamp_and_secret() -> None:
    payload = stripe_event("invoice.paid", "invoice")
    verified = verify_signature(payload, sign_webhook(payload, SECRET, NOW), [SECRET], now=NOW)
    assert verified.timestamp == NOW
    assert verified.secret_index == 0


def test_wrong_secret_and_tampered_body_do_not_match() -> None:
    payload = stripe_event("invoice.paid", "invoice")
    header = sign_webhook(payload, "whsec_someone_else", NOW)
    assert error_code(payload, header, [SECRET], now=NOW) == signatures.NO_MATCHING_SIGNATURE
    good = sign_webhook(payload, SECRET, NOW)
    tampered = payload.replace(b'"livemode":false', b'"livemode":true')
    assert tampered != payload
    assert error_code(tampered, good, [SECRET], now=NOW) == signatures.NO_MATCHING_SIGNATURE


def test_signature_for_another_timestamp_does_not_match() -> None:
    payload = b'{"id":"evt_1"}'
    header = sign_webhook(payload, SECRET, NOW).replace(f"t={NOW}", f"t={NOW + 1}")
    assert error_code(payload, header, [SECRET], now=NOW) == signatures.NO_MATCHING_SIGNATURE


@pytest.mark.parametrize(
    ("age", "accepted"),
    [(0, True), (300, True), (301, False), (-300, True), (-301, False), (86_400, False)],
)
def test_timestamp_tolerance_is_300_seconds_either_side(age: int, accepted: bool) -> None:
    payload = b'{"id":"evt_old"}'
    header = sign_webhook(payload, SECRET, NOW - age)
    if accepted:
        assert verify_signature(payload, header, [SECRET], now=NOW).timestamp == NOW - age
    else:
        code = error_code(payload, header, [SECRET], now=NOW)
        assert code == signatures.TIMESTAMP_OUTSIDE_TOLERANCE


def test_tolerance_is_configurable_and_defaults_to_now() -> None:
    payload = b'{"id":"evt_2"}'
    header = sign_webhook(payload, SECRET, int(time.time()) - 60)
    assert verify_signature(payload, header, [SECRET]).secret_index == 0
    code = error_code(payload, header, [SECRET], tolerance=30)
    assert code == signatures.TIMESTAMP_OUTSIDE_TOLERANCE


def test_rotation_any_configured_secret_matches_and_reports_which() -> None:
    payload = stripe_event("charge.refunded", "charge")
    signed_old = sign_webhook(payload, OLD_SECRET, NOW)
    signed_new = sign_webhook(payload, SECRET, NOW)
    assert verify_signature(payload, signed_new, [SECRET, OLD_SECRET], now=NOW).secret_index == 0
    assert verify_signature(payload, signed_old, [SECRET, OLD_SECRET], now=NOW).secret_index == 1
    assert error_code(payload, signed_old, [SECRET], now=NOW) == signatures.NO_MATCHING_SIGNATURE


def test_several_v1_entries_one_of_which_matches() -> None:
    payload = stripe_event("charge.dispute.created", "dispute")
    header = sign_webhook(payload, "whsec_unrelated", NOW, extra_secrets=(SECRET,))
    assert header.count("v1=") == 2
    assert verify_signature(payload, header, [SECRET], now=NOW).timestamp == NOW
    reordered = sign_webhook(payload, SECRET, NOW, extra_secrets=("whsec_unrelated",))
    assert verify_signature(payload, reordered, [SECRET], now=NOW).timestamp == NOW


def test_other_schemes_are_ignored() -> None:
    payload = b'{"id":"evt_v0"}'
    v1 = sign_webhook(payload, SECRET, NOW).split(",")[1]
    header = f"t={NOW},v0=deadbeef,{v1}"
    assert verify_signature(payload, header, [SECRET], now=NOW).timestamp == NOW
    v0_only = f"t={NOW},v0={v1.removeprefix('v1=')}"
    assert error_code(payload, v0_only, [SECRET], now=NOW) == signatures.HEADER_MALFORMED


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_header(header: str | None) -> None:
    assert error_code(b"{}", header, [SECRET], now=NOW) == signatures.HEADER_MISSING


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        f"t={NOW}",  # no v1
        "v1=abcdef",  # no t
        "t=yesterday,v1=abcdef",
        f"t={NOW},t={NOW},v1=abcdef",
        f"t={NOW},,v1=abcdef",
        f"t={NOW},v1=",
    ],
)
def test_malformed_header(header: str) -> None:
    assert error_code(b"{}", header, [SECRET], now=NOW) == signatures.HEADER_MALFORMED


def test_no_secret_configured_is_a_server_error() -> None:
    payload = b"{}"
    with pytest.raises(WebhookSignatureError) as caught:
        verify_signature(payload, sign_webhook(payload, SECRET, NOW), ["", ""], now=NOW)
    assert caught.value.code == signatures.NOT_CONFIGURED
    assert caught.value.status_code == 500


def test_scheme_cross_check_with_the_stripe_sdk() -> None:
    """What our test signer produces, Stripe's own library accepts (and vice versa rejects)."""
    payload = stripe_event("invoice.payment_failed", "invoice")
    header = sign_webhook(payload, SECRET)
    event = stripe.Webhook.construct_event(payload, header, SECRET)
    body = json.loads(payload)
    assert (event.id, event.type) == (body["id"], "invoice.payment_failed")
    assert event.data.object.id == body["data"]["object"]["id"]
    assert verify_signature(payload, header, [SECRET]).secret_index == 0
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload + b" ", header, SECRET)
    assert error_code(payload + b" ", header, [SECRET]) == signatures.NO_MATCHING_SIGNATURE


@given(
    payload=st.binary(max_size=2048),
    secret=st.text(min_size=1, max_size=40),
    flip=st.integers(min_value=0),
)
def test_any_payload_verifies_and_any_changed_byte_does_not(
    payload: bytes, secret: str, flip: int
) -> None:
    header = sign_webhook(payload, secret, NOW)
    assert verify_signature(payload, header, [secret], now=NOW).timestamp == NOW
    if payload:
        index = flip % len(payload)
        changed = payload[:index] + bytes([payload[index] ^ 0x01]) + payload[index + 1 :]
        code = error_code(changed, header, [secret], now=NOW)
        assert code == signatures.NO_MATCHING_SIGNATURE


def test_stripe_event_envelope_wraps_a_fixture_object() -> None:
    payload = stripe_event(
        "charge.dispute.created",
        "dispute",
        previous_attributes={"status": "needs_response"},
        id="evt_fixed",
    )
    event = json.loads(payload)
    assert event["id"] == "evt_fixed"
    assert event["object"] == "event"
    assert event["type"] == "charge.dispute.created"
    assert event["livemode"] is False
    assert event["data"]["object"]["object"] == "dispute"
    assert event["data"]["object"]["id"].startswith("dp_")
    assert event["data"]["previous_attributes"] == {"status": "needs_response"}
    assert {"api_version", "created", "pending_webhooks", "request"} <= set(event)
