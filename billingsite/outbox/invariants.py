"""Outbox check for ``check_invariants``: what Tally promised to tell Stripe gets told.

Each refund reaches Stripe once (invariant 5) only if the outbox row is sent at all: a row
still pending, failing or sending long after it was written means a stuck dispatcher, a lost
worker or an outage that on-call must see, even while every data invariant holds. A row of a
topic with its own retry policy (outbound webhooks: days) that is failing is the receiver's
outage, not ours: it is left out while it still retries (a stale pending or sending row of
such a topic still counts).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from billingsite.invariants import Violation, invariant
from billingsite.outbox.models import OutboxMessage, OutboxState
from billingsite.outbox.registry import topics_with_retry_policy

UNSENT = (OutboxState.PENDING, OutboxState.FAILED, OutboxState.SENDING)


@invariant(5, "outbox rows are sent within OUTBOX_STALL_SECONDS")
def outbox_rows_moving() -> Iterator[Violation]:
    threshold = settings.OUTBOX_STALL_SECONDS
    cutoff = timezone.now() - timedelta(seconds=threshold)
    stale = (
        OutboxMessage.objects.filter(state__in=UNSENT, created_at__lt=cutoff)
        .exclude(state=OutboxState.FAILED, topic__in=topics_with_retry_policy())
        .order_by("id")
    )
    for message in stale.iterator():
        error = f", last error {message.last_error_code or message.last_error[:100]}"
        yield Violation(
            f"outbox {message.topic} {message.key}",
            f"{message.state} since {message.created_at.isoformat()} (over {threshold} s), "
            f"{message.attempts} attempt(s){error if message.last_error else ''}",
        )
