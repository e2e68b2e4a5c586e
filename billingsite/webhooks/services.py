"""Webhook writes: endpoints (create, update, delete, rotate the secret), replays, and the
record of each delivery attempt with the failure streak that disables an endpoint.

Invariants:
- an endpoint's URL passed the SSRF check (``ssrf.check_url``) when it was saved; its event
  types are known ones or ``["*"]``;
- the secret is returned once (create, rotate) and never again by the API or the admin; after a
  rotation the previous secret also signs until ``previous_secret_expires_at``;
- a replay writes new outbox rows for existing events: the receiver sees the same ``evt_`` ids;
- an endpoint is disabled once, by one conditional change under its row lock, and that change
  enqueues one email to the operator in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from billingsite.errors import AppError
from billingsite.outbox.services import outbox_enqueue
from billingsite.webhooks.catalog import WILDCARD, is_known
from billingsite.webhooks.listener import delivery_enqueue
from billingsite.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from billingsite.webhooks.secrets import secret_generate
from billingsite.webhooks.ssrf import check_url

DISABLED_EMAIL_TOPIC = "webhook.endpoint_disabled"
EDITABLE = ("url", "events", "description", "enabled")


def _clean_events(events: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(events))
    if not chosen:
        raise AppError("events_required", 'Name at least one event type, or "*" for all.')
    unknown = [name for name in chosen if name != WILDCARD and not is_known(name)]
    if unknown:
        raise AppError(
            "unknown_event_type",
            f"Unknown event type(s): {', '.join(unknown)}.",
            details={"events": ", ".join(unknown)},
        )
    return [WILDCARD] if WILDCARD in chosen else chosen


def _save(endpoint: WebhookEndpoint, actor: User | None) -> None:
    endpoint._history_user = actor  # type: ignore[attr-defined]
    endpoint.save()


@transaction.atomic
def webhook_endpoint_create(
    *,
    url: str,
    events: Iterable[str],
    description: str = "",
    enabled: bool = True,
    actor: User | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (shown to the caller this once)."""
    check_url(url)
    secret = secret_generate()
    endpoint = WebhookEndpoint(
        url=url,
        events=_clean_events(events),
        description=description,
        enabled=enabled,
        secret=secret,
        created_by=actor if actor is not None and actor.pk else None,
    )
    _save(endpoint, actor)
    return endpoint, secret


@transaction.atomic
def webhook_endpoint_update(
    *, endpoint: WebhookEndpoint, actor: User | None = None, **changes: Any
) -> WebhookEndpoint:
    """Change url, events, description or enabled; enabling again clears the failure streak
    and the reason it was disabled."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise AppError("not_editable", f"Cannot change {', '.join(sorted(unknown))}.")
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if "url" in changes:
        check_url(changes["url"])
        locked.url = changes["url"]
    if "events" in changes:
        locked.events = _clean_events(changes["events"])
    if "description" in changes:
        locked.description = changes["description"]
    if changes.get("enabled") is True and not locked.enabled:
        locked.enabled = True
        locked.disabled_reason, locked.disabled_at = "", None
        locked.consecutive_failures, locked.failing_since = 0, None
    elif changes.get("enabled") is False:
        locked.enabled = False
        locked.disabled_reason = locked.disabled_reason or "disabled by the operator"
        locked.disabled_at = locked.disabled_at or timezone.now()
    _save(locked, actor)
    return locked


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor: User | None = None) -> None:
    """Delete the endpoint with its delivery log; its pending deliveries are then skipped."""
    endpoint._history_user = actor  # type: ignore[attr-defined]
    endpoint.delete()


def secret_overlap() -> timedelta:
    return timedelta(hours=float(getattr(settings, "WEBHOOK_SECRET_OVERLAP_HOURS", 24)))


@transaction.atomic
def webhook_endpoint_rotate_secret(
    *,
    endpoint: WebhookEndpoint,
    actor: User | None = None,
    now: datetime | None = None,
    overlap_hours: int | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new secret (returned once); the old one keeps signing for WEBHOOK_SECRET_OVERLAP_HOURS,
    so deliveries carry both signatures while receivers switch."""
    now = now or timezone.now()
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    secret = secret_generate()
    locked.previous_secret = locked.secret
    overlap = secret_overlap() if overlap_hours is None else timedelta(hours=overlap_hours)
    locked.previous_secret_expires_at = now + overlap
    locked.secret = secret
    _save(locked, actor)
    return locked, secret


def replay_limit() -> int:
    return int(getattr(settings, "WEBHOOK_REPLAY_MAX_EVENTS", 10_000))


@transaction.atomic
def webhook_replay(
    *, endpoint: WebhookEndpoint, since: datetime | None = None, event_ids: Iterable[int] = ()
) -> int:
    """Send again, to this endpoint, the events of its types created at or after ``since`` (or
    the events named): new deliveries with the events' own ids. How many were queued."""
    if not endpoint.enabled:
        raise AppError("endpoint_disabled", "Enable the endpoint before replaying events to it.")
    events = WebhookEvent.objects.order_by("created_at", "pk")
    ids = list(event_ids)
    if ids:
        events = events.filter(pk__in=ids)
    elif since is not None:
        events = events.filter(created_at__gte=since)
    else:
        raise AppError("since_required", "Say from when to replay (since).")
    if "*" not in endpoint.events:
        events = events.filter(type__in=endpoint.events)
    chosen = list(events[: replay_limit() + 1])
    if len(chosen) > replay_limit():
        raise AppError(
            "replay_too_large",
            f"More than {replay_limit()} events match: replay a later 'since'.",
            details={"since": "too early"},
        )
    token = uuid.uuid4().hex
    return sum(delivery_enqueue(event, endpoint, replay=token) for event in chosen)


@dataclass(frozen=True)
class Attempt:
    endpoint_id: int
    event_id: int
    outbox_message_id: int | None
    url: str
    request_headers: dict[str, str]
    status: int | None
    body: str
    error: str
    duration_ms: int
    at: datetime

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def disable_threshold() -> tuple[int, timedelta]:
    failures = int(getattr(settings, "WEBHOOK_DISABLE_AFTER_FAILURES", 20))
    hours = float(getattr(settings, "WEBHOOK_DISABLE_AFTER_HOURS", 24))
    return failures, timedelta(hours=hours)


@transaction.atomic
def webhook_delivery_record(attempt: Attempt) -> tuple[WebhookDelivery | None, bool]:
    """Write the attempt to the log and move the endpoint's failure streak; (row, disabled
    now). The endpoint's row lock orders concurrent attempts. None when it was deleted."""
    endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=attempt.endpoint_id).first()
    if endpoint is None:
        return None, False
    previous = WebhookDelivery.objects.filter(endpoint=endpoint, event_id=attempt.event_id)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id=attempt.event_id,
        outbox_message_id=attempt.outbox_message_id,
        attempt=previous.count() + 1,
        url=attempt.url,
        request_headers=attempt.request_headers,
        succeeded=attempt.succeeded,
        response_status=attempt.status,
        response_body=attempt.body[:2000],
        error=attempt.error[:500],
        duration_ms=attempt.duration_ms,
        created_at=attempt.at,
    )
    if attempt.succeeded:
        endpoint.consecutive_failures, endpoint.failing_since = 0, None
    else:
        endpoint.consecutive_failures += 1
        endpoint.failing_since = endpoint.failing_since or attempt.at
    endpoint.skip_history_when_saving = True  # type: ignore[attr-defined]  # counters only
    endpoint.save(update_fields=["consecutive_failures", "failing_since", "updated_at"])
    del endpoint.skip_history_when_saving  # type: ignore[attr-defined]
    return delivery, _disable_if_failing(endpoint, attempt.at)


def _disable_if_failing(endpoint: WebhookEndpoint, now: datetime) -> bool:
    failures, span = disable_threshold()
    if not endpoint.enabled or endpoint.failing_since is None:
        return False
    if endpoint.consecutive_failures < failures or now - endpoint.failing_since < span:
        return False
    endpoint.enabled = False
    endpoint.disabled_at = now
    endpoint.disabled_reason = (
        f"{endpoint.consecutive_failures} deliveries in a row failed since "
        f"{endpoint.failing_since:%Y-%m-%d %H:%M} UTC"
    )
    _save(endpoint, None)
    outbox_enqueue(
        DISABLED_EMAIL_TOPIC,
        f"{DISABLED_EMAIL_TOPIC}:{endpoint.pk}:{now.isoformat()}",
        {"endpoint_id": endpoint.pk, "reason": endpoint.disabled_reason},
    )
    return True


def webhook_event_resend(*, event: WebhookEvent) -> str:
    """Replay one event to every enabled endpoint that subscribes to its type (admin)."""
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(enabled=True).order_by("pk")
        if endpoint.listens_to(event.type)
    ]
    for endpoint in endpoints:
        webhook_replay(endpoint=endpoint, event_ids=[event.pk])
    return f"queued for {len(endpoints)} endpoint(s)"
