"""The webhook inbox: receive (verify, store raw, answer), process once, replay.

Invariants (DESIGN.md invariant 6, "each Stripe webhook event takes effect once"):

- nothing is stored unless the signature verifies against one of
  ``settings.STRIPE_WEBHOOK_SECRETS`` within the replay tolerance;
- the raw event is stored under a unique constraint on Stripe's event id: a duplicate delivery
  finds the row and changes nothing;
- processing locks the event row, runs every registered handler and marks the row processed in
  one transaction: either all of its effects commit together with the mark, or none do (a
  failing handler rolls back to a savepoint and the row is marked failed for a replay);
- handlers compare with the current state of what they touch (see ``stripe_payments``), so a
  replay or an out-of-order delivery is harmless. Handlers never call Stripe.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billingsite.outbox.services import error_text
from invoicing.models import StripeWebhookEvent, WebhookStatus
from invoicing.stripe import metrics
from invoicing.stripe.events import handlers, parse_event
from invoicing.stripe.signatures import verify_signature

logger = logging.getLogger(__name__)

REPROCESS_STATES = (WebhookStatus.RECEIVED, WebhookStatus.FAILED)


def webhook_receive(*, body: bytes, signature: str | None) -> tuple[StripeWebhookEvent, bool]:
    """Verify and store a delivery; (row, created). Raises ``WebhookSignatureError`` (nothing
    stored) or ``WebhookPayloadError``. A new row is processed by a task after commit."""
    verify_signature(
        body,
        signature,
        settings.STRIPE_WEBHOOK_SECRETS,
        tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
    )
    event = parse_event(body)
    with transaction.atomic():
        row, created = StripeWebhookEvent.objects.get_or_create(
            stripe_id=event.id,
            defaults={
                "type": event.type[:100],
                "object_id": (event.object_id or "")[:255],
                "livemode": event.livemode,
                "api_version": (event.api_version or "")[:64],
                "stripe_created": datetime.fromtimestamp(event.created, tz=UTC),
                "body": body.decode("utf-8"),
            },
        )
        if created:
            transaction.on_commit(lambda: _kick(row.pk))
    metrics.WEBHOOKS_RECEIVED.labels(
        type=event.type, outcome="new" if created else "duplicate"
    ).inc()
    return row, created


def _kick(event_pk: int) -> None:
    from invoicing.stripe.tasks import webhook_process_task

    try:
        webhook_process_task.delay(event_pk)
    except Exception:  # the sweep task processes it a minute later
        logger.warning("could not queue webhook processing", exc_info=True)


def webhook_event_process(*, event_pk: int) -> str:
    """Apply one stored event; returns its new status, or ``skipped`` when it is done already
    or another worker holds it."""
    with transaction.atomic():
        row = (
            StripeWebhookEvent.objects.select_for_update(skip_locked=True)
            .filter(pk=event_pk, status__in=REPROCESS_STATES)
            .first()
        )
        if row is None:
            return "skipped"
        now = timezone.now()
        event = parse_event(row.body.encode("utf-8"))
        found = handlers.handlers_for(event.type)
        status, code, error = WebhookStatus.PROCESSED, "", ""
        if not found:
            status = WebhookStatus.IGNORED
        else:
            try:
                with transaction.atomic():
                    for handler in found:
                        handler(event)
            except Exception as exc:  # recorded on the row; replayable from the admin
                logger.exception(
                    "webhook handler failed",
                    extra={"stripe_event": event.id, "event_type": event.type},
                )
                status = WebhookStatus.FAILED
                code, error = error_text(exc)
        StripeWebhookEvent.objects.filter(pk=row.pk).update(
            status=status, attempts=row.attempts + 1, error_code=code, error=error, processed_at=now
        )
    metrics.record_processed(event.type, status, now - row.stripe_created)
    return str(status)


def webhook_events_replay(*, event_ids: list[int]) -> list[tuple[int, str]]:
    """Process stored events again now (after a fix): each handler compares with current
    state, so replaying a processed event changes nothing. [(id, new status)]."""
    results = []
    for event_pk in sorted(event_ids):
        updated = StripeWebhookEvent.objects.filter(pk=event_pk).update(
            status=WebhookStatus.RECEIVED
        )
        results.append(
            (event_pk, webhook_event_process(event_pk=event_pk) if updated else "not found")
        )
    return results


def webhook_pending_ids(
    *, older_than_seconds: int = 30, max_attempts: int = 3, limit: int = 500
) -> list[int]:
    """Events whose processing kick was lost, or that failed fewer than ``max_attempts``."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        StripeWebhookEvent.objects.filter(
            status__in=REPROCESS_STATES,
            attempts__lt=max_attempts,
            received_at__lte=cutoff,
        )
        .order_by("stripe_created", "pk")
        .values_list("pk", flat=True)[:limit]
    )
