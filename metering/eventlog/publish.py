"""Log mode of ``events_ingest``: validate now, publish the valid events, answer after PubAck.

Known in the answer (synchronously): ``rejected`` (with its reason, kept in the rejected queue
as on the direct path) and ``queued``: the event is durably in the replicated log and will be
applied exactly once. Decided later by the sink, visible in the admin and at
``GET /api/v1/events/{id}/status``: accepted, duplicate (nothing new stored), conflict (kept for
review) and unattributed. If the log does not acknowledge, the request fails with 503
``event_log_unavailable`` and its rejected rows are rolled back, so the retry (same ids) is the
first time anything is reported; parts of a multi-partition request already logged before the
failure are applied once, and the retry's copies are dropped (JetStream's duplicate window, then
the store's unique key). See docs/scaling.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction

from accounts.models import ApiKey
from billingsite.errors import AppError
from metering import eventlog, metrics
from metering.eventlog import wire
from metering.eventlog.client import EventLogUnavailable, log_client
from metering.ingest.limits import IngestLimits
from metering.ingest.wire import EventValidator, Rejection, ValidEvent, not_own_customer

QUEUED, REJECTED = "queued", "rejected"  # the outcomes known when the request is answered
# Leave room under NATS's default 1 MB max_payload for headers and the JSON envelope.
MAX_MESSAGE_BYTES = 900_000


@dataclass
class Published:
    events: list[dict[str, Any]]
    counts: dict[str, int]


def events_publish(
    *,
    api_key: ApiKey | None,
    events: Sequence[Any],
    received_at: datetime,
    limits: IngestLimits,
    check_imprecise: bool,
    resolve: Callable[[Iterable[str]], dict[str, int]],
    keep: Callable[[list[Rejection]], None],
    publish: Callable[[list[ValidEvent]], object],
) -> Published:
    """Validate ``events``, keep the rejected ones (``keep``: the rejected queue) and
    ``publish`` the valid ones, in one transaction: if the log does not acknowledge, the
    request fails (503) and no rejected row stays behind. ``resolve`` maps customer refs to
    ids for a customer-bound key. The ingest service passes its own functions, so the
    outcomes and rows are the direct path's."""
    validator = EventValidator(limits, received_at, check_imprecise=check_imprecise)
    checked = [validator.validate(i, raw) for i, raw in enumerate(events)]
    rejections = [c for c in checked if isinstance(c, Rejection)]
    valid = [c for c in checked if isinstance(c, ValidEvent)]
    if api_key is not None and api_key.customer_id is not None:
        valid, refused = _own_customer_only(api_key.customer_id, valid, resolve)
        rejections += refused
    with transaction.atomic():
        keep(rejections)
        try:
            publish(valid)
        except EventLogUnavailable as exc:
            raise AppError(
                "event_log_unavailable",
                "The event log did not acknowledge the events; nothing was accepted. "
                "Retry with the same event ids.",
                details={"reason": str(exc)[:200]},
                status_code=503,
            ) from exc
    outcomes: list[dict[str, Any]] = [{} for _ in checked]
    for event in valid:
        outcomes[event.index] = {"index": event.index, "id": event.event_id, "status": QUEUED}
    for rej in rejections:
        outcomes[rej.index] = {
            "index": rej.index,
            "id": rej.event_id,
            "status": REJECTED,
            "reason": rej.reason,
            "message": rej.message,
        }
    counts = {QUEUED: len(valid), REJECTED: len(rejections)}
    metrics.count_outcomes(counts)
    return Published(outcomes, counts)


def _own_customer_only(
    customer_id: int,
    valid: list[ValidEvent],
    resolve: Callable[[Iterable[str]], dict[str, int]],
) -> tuple[list[ValidEvent], list[Rejection]]:
    ids = resolve(e.customer_ref for e in valid)
    kept, refused = [], []
    for event in valid:
        if ids.get(event.customer_ref) == customer_id:
            kept.append(event)
        else:
            refused.append(not_own_customer(event))
    return kept, refused


def publish_events(
    namespace: str, received_at: datetime, vendor: str, events: list[ValidEvent]
) -> list[int]:
    """Publish ``events`` split by partition (and size); the stream sequences, once every part
    is acknowledged by the log (a quorum of replicas when clustered)."""
    if not events:
        return []
    count = eventlog.partitions()
    parts: dict[int, list[ValidEvent]] = {}
    for event in events:
        parts.setdefault(eventlog.partition_of(event.customer_ref, count), []).append(event)
    messages = []
    for partition, part in sorted(parts.items()):
        for chunk, payload in _chunks(namespace, received_at, vendor, part):
            messages.append((partition, payload, wire.msg_id(namespace, partition, chunk)))
    client = log_client()
    return client.run(_publish_all(client, messages))


async def _publish_all(client: Any, messages: list[tuple[int, bytes, str]]) -> list[int]:
    js = await client.js()
    timeout = float(settings.TALLY_EVENT_LOG_TIMEOUT_SECONDS)
    acks = await asyncio.gather(
        *(
            js.publish(
                eventlog.subject(partition),
                payload,
                timeout=timeout,
                stream=eventlog.stream_name(),
                headers={"Nats-Msg-Id": mid},
            )
            for partition, payload, mid in messages
        )
    )
    return [ack.seq for ack in acks]


def _chunks(
    namespace: str, received_at: datetime, vendor: str, events: list[ValidEvent]
) -> list[tuple[list[ValidEvent], bytes]]:
    """Split so each message stays under ``MAX_MESSAGE_BYTES`` (halving until it fits)."""
    payload = wire.encode(namespace, received_at, vendor, events)
    if len(events) <= 1 or len(payload) <= MAX_MESSAGE_BYTES:
        return [(events, payload)]
    half = len(events) // 2
    return _chunks(namespace, received_at, vendor, events[:half]) + _chunks(
        namespace, received_at, vendor, events[half:]
    )
