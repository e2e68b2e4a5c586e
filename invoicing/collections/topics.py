"""Outbox topics of collections and the keys of their rows (a leaf; the strings are stored in
outbox rows: never change them). The retry row's key is also the Stripe idempotency key of the
payment attempt, so a resent row never charges twice."""

from __future__ import annotations

COLLECTION_RETRY_TOPIC = "collections.retry"
COLLECTION_REMINDER_TOPIC = "collections.reminder"


def collection_step_key(invoice_id: int, step: str) -> str:
    return f"invoice:{invoice_id}:collections:{step}"
