"""The ``billingsite.events`` listener: a ``WebhookEvent`` per business change and one outbox
row per enabled endpoint that subscribes to its type, all in the caller's transaction.

Emitting the same ``key`` again (a retried task, a worker that died after the commit) finds the
event and writes nothing: one event, one ``evt_...`` id and one delivery row per endpoint for
each business change. Endpoints enabled later hear of past events only through a replay.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from billingsite.outbox.bulk import outbox_enqueue_many
from billingsite.outbox.services import outbox_enqueue
from billingsite.webhooks.catalog import is_known
from billingsite.webhooks.models import WebhookEndpoint, WebhookEvent
from billingsite.webhooks.secrets import event_public_id

logger = logging.getLogger(__name__)

DELIVER_TOPIC = "webhook.deliver"
LISTENER_NAME = "webhooks"


def delivery_key(event_id: int, endpoint_id: int, replay: str = "") -> str:
    """The outbox key of an event's delivery to an endpoint; a replay adds its own token."""
    base = f"webhook:{event_id}:{endpoint_id}"
    return f"{base}:replay:{replay}" if replay else base


def delivery_enqueue(event: WebhookEvent, endpoint: WebhookEndpoint, replay: str = "") -> bool:
    """One outbox row for (event, endpoint); False when that row exists already."""
    _, created = outbox_enqueue(
        DELIVER_TOPIC,
        delivery_key(event.pk, endpoint.pk, replay),
        {"event_id": event.pk, "endpoint_id": endpoint.pk},
    )
    return created


def _insert_event(event_type: str, key: str, payload: dict[str, Any]) -> int | None:
    """Insert the event unless its key exists; its id, or None when it was there already."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billingsite_webhookevent (public_id, key, type, payload, created_at)"
            " VALUES (%s, %s, %s, %s::jsonb, %s) ON CONFLICT (key) DO NOTHING RETURNING id",
            [event_public_id(), key, event_type, json.dumps(payload), timezone.now()],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def webhook_event_record(event_type: str, data: Mapping[str, Any], *, key: str) -> None:
    """Listener for ``billingsite.events.emit`` (see the module docstring)."""
    if not is_known(event_type):
        logger.warning("webhook event of an unknown type", extra={"event_type": event_type})
    now = timezone.now()
    body = {
        "type": event_type,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "data": json.loads(json.dumps(dict(data), cls=DjangoJSONEncoder)),
    }
    # No savepoint: inside the caller's transaction this is part of it (a failure here fails
    # the business change, as it must); called outside one, it still runs in its own.
    with transaction.atomic(savepoint=False):
        event_id = _insert_event(event_type, key, body)
        if event_id is None:
            return
        event = WebhookEvent(pk=event_id, type=event_type, key=key)
        for endpoint in WebhookEndpoint.objects.filter(enabled=True).order_by("pk"):
            if endpoint.listens_to(event_type):
                delivery_enqueue(event, endpoint)


def webhook_events_record(event_type: str, events: Sequence[tuple[Mapping[str, Any], str]]) -> None:
    """``webhook_event_record`` for each of ``events`` ((data, key), in order) with one INSERT
    of the events (a key that exists is skipped, as there), one read of the endpoints and one
    INSERT of the deliveries."""
    if not is_known(event_type):
        logger.warning("webhook event of an unknown type", extra={"event_type": event_type})
    now = timezone.now()
    stamp = now.isoformat().replace("+00:00", "Z")
    bodies = [
        json.dumps(
            {"type": event_type, "timestamp": stamp, "data": dict(data)}, cls=DjangoJSONEncoder
        )
        for data, _key in events
    ]
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO billingsite_webhookevent (public_id, key, type, payload, created_at)"
                " SELECT e.public_id, e.key, %s, e.payload::jsonb, %s"
                " FROM unnest(%s::text[], %s::text[], %s::text[]) WITH ORDINALITY"
                " AS e(public_id, key, payload, n) ORDER BY e.n"
                " ON CONFLICT (key) DO NOTHING RETURNING id, key",
                [
                    event_type,
                    now,
                    [event_public_id() for _event in events],
                    [key for _data, key in events],
                    bodies,
                ],
            )
            created = {key: event_id for event_id, key in cursor.fetchall()}
        if not created:
            return
        endpoints = WebhookEndpoint.objects.filter(enabled=True).order_by("pk")
        listening = [endpoint.pk for endpoint in endpoints if endpoint.listens_to(event_type)]
        outbox_enqueue_many(
            DELIVER_TOPIC,
            [
                (
                    delivery_key(created[key], endpoint),
                    {"event_id": created[key], "endpoint_id": endpoint},
                )
                for _data, key in events
                if key in created
                for endpoint in listening
            ],
        )
