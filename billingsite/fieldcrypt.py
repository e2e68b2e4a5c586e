"""Secrets kept in the database, encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256).

Keys come from ``TALLY_FIELD_ENCRYPTION_KEY``: one or more Fernet keys (``Fernet.generate_key()``,
44 URL-safe base64 characters), comma-separated, **newest first**. The first key encrypts; every
key decrypts (``MultiFernet``), so a key is rotated by putting the new one in front, running
``manage.py rotate_field_encryption`` (re-encrypts every row with the first key) and then
dropping the old one. Unset, a key is derived from ``SECRET_KEY`` and a warning is logged once
per process: acceptable for development, not for production, because rotating ``SECRET_KEY``
would then make the stored secrets unreadable. docs/webhooks.md, "Secrets at rest".

``EncryptedTextField`` stores the token and hands the plain text to Python code, so callers
read and assign ``endpoint.secret`` as before; only the database (and its backups) hold tokens.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

logger = logging.getLogger(__name__)

_DERIVATION_LABEL = b"tally field encryption v1\x00"


class FieldDecryptionError(Exception):
    """A stored token no configured key opens (the key was dropped too early, or changed)."""


def derived_key(secret_key: str) -> bytes:
    """The fallback Fernet key: SHA-256 of a label and ``SECRET_KEY``, URL-safe base64."""
    digest = hashlib.sha256(_DERIVATION_LABEL + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest)


@lru_cache(maxsize=8)
def _fernet(configured: str, secret_key: str) -> MultiFernet:
    keys = [k.strip() for k in configured.split(",") if k.strip()]
    if not keys:
        logger.warning(
            "TALLY_FIELD_ENCRYPTION_KEY is not set: stored secrets are encrypted with a key "
            "derived from SECRET_KEY (set TALLY_FIELD_ENCRYPTION_KEY in production)",
            extra={"event": "field_encryption_key_derived"},
        )
        return MultiFernet([Fernet(derived_key(secret_key))])
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:  # never echo the key itself
        raise ImproperlyConfigured(
            "TALLY_FIELD_ENCRYPTION_KEY must be Fernet keys (32 url-safe base64-encoded bytes), "
            "comma-separated, newest first"
        ) from exc


def fernet() -> MultiFernet:
    configured = str(getattr(settings, "TALLY_FIELD_ENCRYPTION_KEY", "") or "")
    return _fernet(configured, settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeEncodeError) as exc:
        raise FieldDecryptionError(
            "a stored secret cannot be decrypted with TALLY_FIELD_ENCRYPTION_KEY"
        ) from exc


class EncryptedTextField(models.TextField):
    """Text stored as a Fernet token; ``""`` stays ``""`` (an empty optional secret). Not for
    lookups: every encryption of the same text differs."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if not value:
            return value
        return decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(str(value))
