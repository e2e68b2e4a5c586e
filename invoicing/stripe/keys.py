"""Idempotency keys for Stripe calls, derived from our own rows (DESIGN.md section 6).

``idempotency_key("customer", 42, "create")`` -> ``"customer:42:create"``;
``idempotency_key("invoice", 7, "finalize")``; ``idempotency_key("refund", 9)``.
Stripe keeps a key's first answer for at least 24 hours and replays it for a repeated request
with the same parameters, so resending an outbox row after a timeout cannot create a second
object. A key reused with *different* parameters is rejected (``stripe_idempotency_error``): for
updates that may change between attempts, add the outbox row id or a version as a part.
"""

from __future__ import annotations

import re

IDEMPOTENCY_KEY_MAX_LENGTH = 255  # Stripe's documented limit
_KEY_PART = re.compile(r"^[A-Za-z0-9_.\-]+$")


def idempotency_key(*parts: str | int) -> str:
    """Join our identifiers (kind, primary key, action, version) with ``:``.

    Parts may not be empty or contain ``:`` or whitespace, so two different rows can never
    produce the same key.
    """
    if not parts:
        raise ValueError("an idempotency key needs at least one part")
    texts = [str(part) for part in parts]
    for text in texts:
        if not _KEY_PART.match(text):
            raise ValueError(f"idempotency key part {text!r} must match {_KEY_PART.pattern}")
    return checked_key(":".join(texts))


def checked_key(key: str | None) -> str:
    """``key`` if it is usable as a Stripe idempotency key; ValueError when missing or invalid."""
    if not isinstance(key, str) or not key.strip():
        raise ValueError("every Stripe create/update call needs an idempotency key")
    if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH or any(ch.isspace() for ch in key):
        raise ValueError(f"invalid idempotency key {key!r} (max 255 chars, no whitespace)")
    return key
