"""Verify the ``Stripe-Signature`` header of a webhook delivery, for several secrets.

The scheme, as Stripe documents it ("Verify webhook signatures manually",
https://docs.stripe.com/webhooks#verify-manually):

- the header is a comma-separated list of ``key=value`` items: one ``t=<unix timestamp>`` and one
  or more ``v1=<hex signature>`` (several while Stripe rolls an endpoint secret; other schemes
  such as ``v0`` are ignored);
- the signed payload is ``"<t>.<raw request body>"``, the signature its HMAC-SHA256 under the
  endpoint's signing secret (``whsec_...``), in lower-case hex;
- compare with a constant-time function and refuse timestamps outside a tolerance (Stripe's
  libraries use 300 seconds) so a captured delivery cannot be replayed later.

We implement it here rather than calling the SDK's ``Webhook`` helper so that secret rotation
(any of ``settings.STRIPE_WEBHOOK_SECRETS`` may match) and our error codes are explicit. The
test suite cross-checks that payloads signed this way are accepted by ``stripe.Webhook``.
This module does not import the SDK.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass

from billingsite.errors import AppError

HEADER = "Stripe-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300

HEADER_MISSING = "signature_header_missing"
HEADER_MALFORMED = "signature_header_malformed"
NO_MATCHING_SIGNATURE = "signature_mismatch"
TIMESTAMP_OUTSIDE_TOLERANCE = "signature_timestamp_outside_tolerance"
NOT_CONFIGURED = "webhook_secrets_not_configured"


class WebhookSignatureError(AppError):
    """The delivery is not provably from Stripe; the inbox answers 400 and stores nothing."""


@dataclass(frozen=True)
class VerifiedSignature:
    """``secret_index``: which configured secret matched (0 = first), to see when an old secret
    stops being used during a rotation."""

    timestamp: int
    secret_index: int


@dataclass(frozen=True)
class ParsedHeader:
    timestamp: int
    signatures: tuple[str, ...]


def expected_signature(payload: bytes, secret: str, timestamp: int) -> str:
    """Hex HMAC-SHA256 of ``b"<timestamp>." + payload`` under ``secret``."""
    signed = str(timestamp).encode("ascii") + b"." + payload
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def parse_header(header: str | None) -> ParsedHeader:
    """Split the header into its timestamp and its ``v1`` signatures; error codes on failure."""
    if header is None or not header.strip():
        raise WebhookSignatureError(HEADER_MISSING, f"The {HEADER} header is missing.")
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep or not key or not value:
            raise _malformed(f"item {item.strip()!r} is not key=value")
        if key == "t":
            timestamps.append(value)
        elif key == SCHEME:
            signatures.append(value.lower())
    if len(timestamps) != 1 or not timestamps[0].isdigit():
        raise _malformed("it needs exactly one numeric t= item")
    if not signatures:
        raise _malformed(f"it has no {SCHEME}= signature")
    return ParsedHeader(timestamp=int(timestamps[0]), signatures=tuple(signatures))


def verify_signature(
    payload: bytes,
    header: str | None,
    secrets: Sequence[str],
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> VerifiedSignature:
    """Accept ``payload`` (the raw body, exactly as received) if one of its ``v1`` signatures
    matches one of ``secrets`` and its timestamp is within ``tolerance`` seconds of ``now``
    (either side, so a clock far ahead is refused as well). Raises ``WebhookSignatureError``."""
    usable = [secret for secret in secrets if secret]
    if not usable:
        raise WebhookSignatureError(
            NOT_CONFIGURED, "No webhook signing secret is configured.", status_code=500
        )
    parsed = parse_header(header)
    matched = _matching_secret(payload, parsed, usable)
    if matched is None:
        raise WebhookSignatureError(
            NO_MATCHING_SIGNATURE, "No signature matches a configured signing secret."
        )
    current = time.time() if now is None else now
    if abs(current - parsed.timestamp) > tolerance:
        raise WebhookSignatureError(
            TIMESTAMP_OUTSIDE_TOLERANCE,
            f"The signature timestamp is more than {tolerance} seconds from now.",
            details={"timestamp": parsed.timestamp},
        )
    return VerifiedSignature(timestamp=parsed.timestamp, secret_index=matched)


def _matching_secret(payload: bytes, parsed: ParsedHeader, secrets: Sequence[str]) -> int | None:
    for index, secret in enumerate(secrets):
        expected = expected_signature(payload, secret, parsed.timestamp)
        # Compare against every candidate: no early exit that depends on the signature bytes.
        found = False
        for candidate in parsed.signatures:
            found |= hmac.compare_digest(expected.encode(), candidate.encode())
        if found:
            return index
    return None


def _malformed(reason: str) -> WebhookSignatureError:
    return WebhookSignatureError(HEADER_MALFORMED, f"The {HEADER} header is malformed: {reason}.")
