"""Outbox writes: enqueue inside the business transaction, claim, send, record, retry.

Invariants:

- a row is written in the caller's transaction (``outbox_enqueue`` refuses to run outside one),
  so it exists if and only if the business change committed; its ``key`` is unique, so the same
  business fact enqueued twice is one row;
- rows are claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` and flipped to ``sending`` with a
  lease in the same short transaction: two dispatchers never hold the same row;
- the handler runs outside any transaction (``assert_no_transaction``); its outcome is recorded
  with a conditional UPDATE on (state=sending, attempts=claimed attempt), so a worker whose lease
  ran out cannot overwrite the outcome of the attempt that replaced it;
- failures back off exponentially with jitter; a final error (``retryable = False``) or the
  retry cap moves the row to ``dead``, which only a person moves back (``outbox_retry_now``);
- an error that says the message is fine but the destination is not set up yet
  (``held_until_configured``: no Stripe API key) holds the row: it goes back to ``pending``
  without using up an attempt and is tried again every ``OUTBOX_HOLD_SECONDS``, so it is sent
  once the configuration arrives instead of dying in the dead-letter queue.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from billingsite.outbox import metrics
from billingsite.outbox.guard import assert_no_transaction
from billingsite.outbox.models import OutboxMessage, OutboxState
from billingsite.outbox.registry import RetryPolicy, handler_for, retry_policy_for

logger = logging.getLogger(__name__)

DUE_STATES = (OutboxState.PENDING, OutboxState.FAILED)


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def max_attempts() -> int:
    return int(_setting("OUTBOX_MAX_ATTEMPTS", 12))


def lease_seconds() -> int:
    return int(_setting("OUTBOX_LEASE_SECONDS", 300))


def backoff_delay(
    attempts: int, *, rng: random.Random | None = None, policy: RetryPolicy | None = None
) -> timedelta:
    """Delay before the next try after ``attempts`` failed claims: base * 2^(n-1), capped, with
    +/-20% jitter so rows that failed together (a Stripe outage) do not retry in lockstep. With
    the defaults (5 s base, 30 min cap, 12 attempts: about 2 h in all) every retry stays within
    Stripe's 24 h key lifetime, so every retry of a row is deduplicated by Stripe."""
    base = policy.base_seconds if policy else float(_setting("OUTBOX_BACKOFF_BASE_SECONDS", 5))
    cap = policy.cap_seconds if policy else float(_setting("OUTBOX_BACKOFF_MAX_SECONDS", 1800))
    delay = min(cap, base * (2 ** max(0, attempts - 1)))
    jitter = (rng or random).uniform(0.8, 1.2)
    return timedelta(seconds=delay * jitter)


def outbox_enqueue(
    topic: str, key: str, payload: dict[str, Any] | None = None, *, now: datetime | None = None
) -> tuple[OutboxMessage, bool]:
    """Write the message in the caller's transaction; (row, created). A row with the same key
    is left as it is (the fact was already enqueued). The dispatcher is kicked after commit."""
    if not connection.in_atomic_block:
        raise RuntimeError("outbox_enqueue must run inside the business transaction")
    now = now or timezone.now()
    body = _json(payload or {})
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billingsite_outboxmessage (topic, key, payload, state, attempts,"
            " next_attempt_at, last_error, last_error_code, created_at, updated_at)"
            " VALUES (%s, %s, %s::jsonb, 'pending', 0, %s, '', '', %s, %s)"
            " ON CONFLICT (key) DO NOTHING RETURNING id",
            [topic, key, body, now, now, now],
        )
        row = cursor.fetchone()
    if row is None:
        return OutboxMessage.objects.get(key=key), False
    message = OutboxMessage(
        pk=row[0],
        topic=topic,
        key=key,
        payload=json.loads(body),
        state=OutboxState.PENDING,
        attempts=0,
        next_attempt_at=now,
        last_error="",
        last_error_code="",
        created_at=now,
        updated_at=now,
    )
    message._state.adding = False  # the row exists: built from what was just inserted
    message._state.db = connection.alias
    transaction.on_commit(_kick_after_commit)
    return message, True


_coalesced: ContextVar[list[int] | None] = ContextVar("outbox_kicks_coalesced", default=None)


@contextmanager
def kicks_coalesced() -> Iterator[None]:
    """Inside this block, commits that enqueue messages ask for one dispatcher kick, sent when
    the block ends (even if it raises: what committed is still dispatched). A billing run that
    finalizes thousands of invoices sends one broker message per chunk, not one per invoice;
    the dispatcher claims every due row anyway."""
    token = _coalesced.set([0])
    try:
        yield
    finally:
        pending = _coalesced.get()
        _coalesced.reset(token)
        if pending and pending[0]:
            kick_dispatcher()


def _kick_after_commit() -> None:
    pending = _coalesced.get()
    if pending is not None:
        pending[0] += 1
        return
    kick_dispatcher()


def _json(value: Any) -> str:
    from django.core.serializers.json import DjangoJSONEncoder

    return json.dumps(value, cls=DjangoJSONEncoder)


def kick_dispatcher() -> None:
    """Ask a worker to dispatch now; if the broker is down, beat's periodic run catches up."""
    from billingsite.outbox.tasks import outbox_dispatch_task

    try:
        outbox_dispatch_task.delay()
    except Exception:  # never fail a committed business change over a notification
        logger.warning("could not kick the outbox dispatcher", exc_info=True)


def _due(now: datetime) -> Q:
    return Q(state__in=DUE_STATES, next_attempt_at__lte=now) | Q(
        state=OutboxState.SENDING, lease_expires_at__lte=now
    )


def outbox_claim(
    *, now: datetime, limit: int = 20, topics: list[str] | None = None
) -> list[tuple[int, int]]:
    """Claim up to ``limit`` due rows for this worker: [(id, attempt number)]. Rows another
    transaction holds are skipped, not waited for."""
    with transaction.atomic():
        due = OutboxMessage.objects.select_for_update(skip_locked=True).filter(_due(now))
        if topics is not None:
            due = due.filter(topic__in=topics)
        ids = list(due.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        OutboxMessage.objects.filter(pk__in=ids).update(
            state=OutboxState.SENDING,
            lease_expires_at=now + timedelta(seconds=lease_seconds()),
            attempts=F("attempts") + 1,
            updated_at=now,
        )
        return list(
            OutboxMessage.objects.filter(pk__in=ids)
            .order_by("next_attempt_at", "pk")
            .values_list("pk", "attempts")
        )


@dataclass
class SendOutcome:
    message_id: int
    outcome: str  # sent | retry | dead | skipped | held
    error: str = ""


def outbox_send(message_id: int, attempt: int, *, now: datetime | None = None) -> SendOutcome:
    """Run the handler of a claimed row (outside any transaction) and record what happened."""
    assert_no_transaction("An outbox handler")
    message = OutboxMessage.objects.filter(pk=message_id).first()
    if message is None or message.state != OutboxState.SENDING or message.attempts != attempt:
        return SendOutcome(message_id, "skipped")
    try:
        result = handler_for(message.topic)(message)
    except Exception as exc:  # recorded on the row; the dispatcher carries on with other rows
        return _record_failure(message, exc, now or timezone.now())
    return _record_success(message, result, timezone.now())


def _claimed(message: OutboxMessage) -> Any:
    return OutboxMessage.objects.filter(
        pk=message.pk, state=OutboxState.SENDING, attempts=message.attempts
    )


def _record_success(message: OutboxMessage, result: Any, now: datetime) -> SendOutcome:
    updated = _claimed(message).update(
        state=OutboxState.SENT,
        sent_at=now,
        result=result if result is not None else {},
        lease_expires_at=None,
        last_error="",
        last_error_code="",
        updated_at=now,
    )
    if not updated:
        return SendOutcome(message.pk, "skipped")
    metrics.record_send(message.topic, "sent", now - message.created_at)
    return SendOutcome(message.pk, "sent")


def error_text(exc: BaseException) -> tuple[str, str]:
    """(code, message) for the row and the admin: our error type's code, else the class name."""
    code = getattr(exc, "code", "") or type(exc).__name__
    text = getattr(exc, "message", "") or str(exc) or type(exc).__name__
    details = getattr(exc, "details", None)
    if details:
        text = f"{text} {details}"
    return str(code)[:100], text[:2000]


def is_retryable(exc: BaseException) -> bool:
    """Errors say so themselves (``StripeGatewayError.retryable``); our other application
    errors are final (retrying cannot fix bad data); anything else (a database hiccup, a bug
    being fixed) is retried until the cap."""
    from billingsite.errors import AppError

    flag = getattr(exc, "retryable", None)
    if flag is not None:
        return bool(flag)
    return not isinstance(exc, AppError)


def hold_seconds() -> int:
    return int(_setting("OUTBOX_HOLD_SECONDS", 300))


def _record_hold(message: OutboxMessage, exc: Exception, now: datetime) -> SendOutcome:
    """Back to pending, the attempt given back: nothing was sent and nothing is wrong with the
    row; it waits for the configuration (e.g. STRIPE_API_KEY) and is looked at again later."""
    code, text = error_text(exc)
    updated = _claimed(message).update(
        state=OutboxState.PENDING,
        attempts=message.attempts - 1,
        next_attempt_at=now + timedelta(seconds=hold_seconds()),
        lease_expires_at=None,
        last_error=text,
        last_error_code=code,
        updated_at=now,
    )
    logger.info(
        "outbox message held until configured",
        extra={"outbox_id": message.pk, "topic": message.topic, "error_code": code},
    )
    if not updated:
        return SendOutcome(message.pk, "skipped", text)
    metrics.record_send(message.topic, "held", None)
    return SendOutcome(message.pk, "held", text)


def _exhausted(message: OutboxMessage, policy: RetryPolicy | None, now: datetime) -> bool:
    """Past the attempt cap (the topic's or the global one) or the topic's time limit."""
    if policy is None:
        return message.attempts >= max_attempts()
    too_old = policy.give_up_after is not None and now - message.created_at >= policy.give_up_after
    return message.attempts >= policy.max_attempts or too_old


def _record_failure(message: OutboxMessage, exc: Exception, now: datetime) -> SendOutcome:
    if getattr(exc, "held_until_configured", False):
        return _record_hold(message, exc, now)
    code, text = error_text(exc)
    policy = retry_policy_for(message.topic)
    dead = not is_retryable(exc) or _exhausted(message, policy, now)
    state = OutboxState.DEAD if dead else OutboxState.FAILED
    next_at = now if dead else now + backoff_delay(message.attempts, policy=policy)
    updated = _claimed(message).update(
        state=state,
        next_attempt_at=next_at,
        lease_expires_at=None,
        last_error=text,
        last_error_code=code,
        updated_at=now,
    )
    outcome = "dead" if dead else "retry"
    log = logger.error if dead else logger.warning
    log(
        "outbox send failed",
        extra={
            "outbox_id": message.pk,
            "topic": message.topic,
            "attempts": message.attempts,
            "error_code": code,
            "outcome": outcome,
        },
    )
    if not updated:
        return SendOutcome(message.pk, "skipped", text)
    metrics.record_send(message.topic, outcome, None)
    return SendOutcome(message.pk, outcome, text)


@dataclass
class DispatchResult:
    outcomes: list[SendOutcome] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for item in self.outcomes if item.outcome == outcome)

    def as_dict(self) -> dict[str, int]:
        return {name: self.count(name) for name in ("sent", "retry", "dead", "skipped")}


def outbox_dispatch(
    *, limit: int = 50, batch: int = 10, topics: list[str] | None = None
) -> DispatchResult:
    """Send due rows until none is left or ``limit`` were handled (the task runs again soon)."""
    result = DispatchResult()
    while len(result.outcomes) < limit:
        claimed = outbox_claim(
            now=timezone.now(), limit=min(batch, limit - len(result.outcomes)), topics=topics
        )
        if not claimed:
            break
        for message_id, attempt in claimed:
            result.outcomes.append(outbox_send(message_id, attempt))
    return result


def outbox_retry_now(
    *, message_ids: list[int], now: datetime | None = None
) -> list[tuple[int, str]]:
    """Make failed or dead rows due now (a person decided to try again); [(id, what happened)].
    Sent rows and rows being sent are left alone. The dispatcher is kicked after commit."""
    now = now or timezone.now()
    results: list[tuple[int, str]] = []
    with transaction.atomic():
        rows = {
            row.pk: row
            for row in OutboxMessage.objects.select_for_update()
            .filter(pk__in=message_ids)
            .order_by("pk")
        }
        for message_id in sorted(message_ids):
            row = rows.get(message_id)
            if row is None:
                results.append((message_id, "not found"))
            elif row.state in (OutboxState.FAILED, OutboxState.DEAD, OutboxState.PENDING):
                OutboxMessage.objects.filter(pk=row.pk).update(
                    state=OutboxState.PENDING, next_attempt_at=now, updated_at=now
                )
                results.append(
                    (message_id, f"queued (was {row.state}, {row.attempts} attempts so far)")
                )
            else:
                results.append((message_id, f"left alone: it is {row.state}"))
        transaction.on_commit(kick_dispatcher)
    return results
