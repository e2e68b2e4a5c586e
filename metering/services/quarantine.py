"""Replay quarantined rollup rows: events the rollup worker could not apply.

A quarantined row is still a queue row, so its events are still "waiting for rollup" to the
meter-version backfill and to invariant 2. A replay applies them now, in one transaction,
under the same shared lock as ``rollup_run``: on success the row is deleted (the events are in
the rollups exactly once); if they still fail, the row stays quarantined with the new reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import connection, transaction

from billingsite.errors import AppError
from metering import metrics
from metering.models import RollupQueue
from metering.services.rollups import (
    CLAIM_DDL,
    ISOLATED_ERRORS,
    METER_DEFINITIONS_LOCK,
    apply_claim,
    failure_from,
    mark_late,
)

logger = logging.getLogger(__name__)

ROLLED_UP, STILL_FAILING = "rolled_up", "still_failing"

_CLAIM_EVENTS = (
    "INSERT INTO metering_claim SELECT e.id, e.customer_id, e.type, e.timestamp, e.properties"
    " FROM metering_usageevent e WHERE e.id = ANY(%s) AND e.customer_id IS NOT NULL"
)


@dataclass(frozen=True)
class QuarantineReplay:
    pk: int
    status: str  # rolled_up | still_failing
    events: int
    reason: str = ""


def rollup_quarantine_replay(*, entry_pk: int) -> QuarantineReplay:
    """Apply one quarantined row's events to the rollups now (after the cause was fixed)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [METER_DEFINITIONS_LOCK])
        entry = (
            RollupQueue.objects.select_for_update(skip_locked=True)
            .filter(pk=entry_pk, quarantined_at__isnull=False)
            .first()
        )
        if entry is None:
            raise AppError(
                "not_quarantined",
                f"Rollup row {entry_pk} is not quarantined (already replayed, or being replayed).",
            )
        cursor.execute(CLAIM_DDL)
        cursor.execute(_CLAIM_EVENTS, [entry.event_pks])
        try:
            with transaction.atomic():
                apply_claim(cursor)
        except ISOLATED_ERRORS as exc:
            failure = failure_from(entry.event_pks[0], exc)
            entry.reason, entry.error_code = failure.reason, failure.error_code
            entry.attempts += 1
            entry.save(update_fields=["reason", "error_code", "attempts"])
            return QuarantineReplay(entry.pk, STILL_FAILING, 0, failure.reason)
        mark_late(cursor)
        entry.delete()
    events = len(entry.event_pks)
    metrics.ROLLUP_EVENTS.inc(events)
    logger.info("quarantined rollup row replayed", extra={"entry": entry_pk, "events": events})
    return QuarantineReplay(entry_pk, ROLLED_UP, events)
