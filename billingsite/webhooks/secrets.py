"""Signing secrets in the Standard Webhooks format: ``whsec_`` + base64 of 32 random bytes."""

from __future__ import annotations

import base64
import secrets

PREFIX = "whsec_"


def secret_generate() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def event_public_id() -> str:
    """``evt_`` + 22 URL-safe characters (128 random bits): the event's ``webhook-id``."""
    return "evt_" + secrets.token_urlsafe(16)
