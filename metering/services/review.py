"""Review queues: replay rejected events (after a fix) and resolve conflicts."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from billingsite.errors import AppError
from metering.ingest.service import events_ingest
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
    result = events_ingest(api_key=None, events=[locked.payload],
                           id_namespace=locked.namespace, store_rejections=False)
    outcome = result.events[0]
    if outcome["status"] == "rejected":
        locked.reason = outcome["reason"]
        locked.message = outcome.get("message", "")
        locked.replay_outcome = "rejected"
    else:
        locked.status = ReviewStatus.REPLAYED
        locked.replay_outcome = outcome["status"]
    locked.save(update_fields=["status", "reason", "message", "replay_outcome"])
    return ReplayOutcome(locked.pk, outcome["status"], outcome.get("reason", ""))


@transaction.atomic
def conflict_dismiss(*, conflict: EventConflict) -> EventConflict:
    """Mark a conflict reviewed: the stored event stands (ids are never overwritten)."""
    updated = EventConflict.objects.filter(pk=conflict.pk, status=ReviewStatus.OPEN).update(
        status=ReviewStatus.DISMISSED)
    if not updated:
        raise AppError("not_open", f"Conflict {conflict.pk} is not open.")
    conflict.refresh_from_db()
    return conflict
