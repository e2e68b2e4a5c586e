"""Many outbox messages of one topic in one statement (a billing run finalizing a batch of
invoices writes one Stripe push per invoice). Same guarantees as ``outbox_enqueue``: written
in the caller's transaction, a key that exists is left as it is, the dispatcher kicked after
the commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from billingsite.outbox.services import _json, _kick_after_commit


def outbox_enqueue_many(
    topic: str, messages: list[tuple[str, dict[str, Any]]], *, now: datetime | None = None
) -> int:
    """``outbox_enqueue`` for many (key, payload) messages in one INSERT; the number of rows
    written. One dispatcher kick for all of them."""
    if not connection.in_atomic_block:
        raise RuntimeError("outbox_enqueue_many must run inside the business transaction")
    if not messages:
        return 0
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billingsite_outboxmessage (topic, key, payload, state, attempts,"
            " next_attempt_at, last_error, last_error_code, created_at, updated_at)"
            " SELECT %s, m.key, m.payload::jsonb, 'pending', 0, %s, '', '', %s, %s"
            " FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS m(key, payload, n)"
            " ORDER BY m.n ON CONFLICT (key) DO NOTHING",
            [
                topic,
                now,
                now,
                now,
                [key for key, _payload in messages],
                [_json(payload) for _key, payload in messages],
            ],
        )
        written = cursor.rowcount
    if written:
        transaction.on_commit(_kick_after_commit)
    return written
