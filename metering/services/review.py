"""Review queues: replay rejected events (after a fix) and resolve conflicts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from billingsite.errors import AppError
from metering.ingest.service import events_ingest
from metering.ingest.translators import Refused, translator
from metering.models import EventConflict, RejectedEvent, ReviewStatus


@dataclass(frozen=True)
class ReplayOutcome:
    pk: int
    status: str
    reason: str = ""


@transaction.atomic
def rejected_replay(*, rejected: RejectedEvent) -> ReplayOutcome:
    """Send a stored rejected event through ingestion again (e.g. after its customer's key
    binding or the payload was fixed). A still-invalid event stays open with the new reason;
    the replay itself creates no second rejected row."""
    locked = RejectedEvent.objects.select_for_update().get(pk=rejected.pk)
    if locked.status != ReviewStatus.OPEN:
        raise AppError("not_open", f"Rejected event {locked.pk} was already {locked.status}.")
    outcome = _replayed(locked)
    if outcome["status"] == "rejected":
        locked.reason = outcome["reason"]
        locked.message = outcome.get("message", "")
        locked.replay_outcome = "rejected"
    else:
        locked.status = ReviewStatus.REPLAYED
        locked.replay_outcome = outcome["status"]
    locked.save(update_fields=["status", "reason", "message", "replay_outcome"])
    return ReplayOutcome(locked.pk, outcome["status"], outcome.get("reason", ""))


def _replayed(rejected: RejectedEvent) -> dict[str, Any]:
    """The event's outcome through ingestion; a vendor's event refused before translation is
    translated again (so it lands in its vendor's namespace, or is refused again), never
    ingested as a native event."""
    event, namespace = rejected.payload, rejected.namespace
    if rejected.is_untranslated:
        item = translator(rejected.vendor)(rejected.payload)
        if isinstance(item, Refused):
            return {"status": "rejected", "reason": item.reason, "message": item.message}
        event, namespace = item.event, item.namespace
    result = events_ingest(
        api_key=None, events=[event], id_namespace=namespace, store_rejections=False
    )
    return result.events[0]


@transaction.atomic
def conflict_dismiss(*, conflict: EventConflict) -> EventConflict:
    """Mark a conflict reviewed: the stored event stands (ids are never overwritten)."""
    updated = EventConflict.objects.filter(pk=conflict.pk, status=ReviewStatus.OPEN).update(
        status=ReviewStatus.DISMISSED
    )
    if not updated:
        raise AppError("not_open", f"Conflict {conflict.pk} is not open.")
    conflict.refresh_from_db()
    return conflict
