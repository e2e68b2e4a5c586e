"""Topic -> handler. Apps register in ``AppConfig.ready()``; the dispatcher looks them up.

A handler takes the claimed ``OutboxMessage`` (``pk``, ``key``, ``payload``, ``attempts``) and
returns a JSON-able result stored on the row. It runs outside any transaction and may run more
than once for the same row (a worker can die after the remote side answered), so every remote
write it makes must carry an idempotency key derived from the row (``message.key`` or
``message.pk``). Raising an exception with ``retryable = False`` dead-letters the row at once;
any other exception is retried with backoff until the cap.

A topic may register its own retry policy (``register_retry_policy``): outbound webhooks retry
for days, while Stripe calls keep the global cap that stays within Stripe's key lifetime.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from billingsite.outbox.models import OutboxMessage

OutboxHandler = Callable[["OutboxMessage"], Any]

_HANDLERS: dict[str, OutboxHandler] = {}


class UnknownTopicError(LookupError):
    retryable = False


def register_outbox_handler(topic: str, handler: OutboxHandler) -> OutboxHandler:
    """Register ``handler`` for ``topic``; re-registering the same function is a no-op."""
    existing = _HANDLERS.get(topic)
    if existing is not None and existing is not handler:
        raise ValueError(f"outbox topic {topic!r} already has a handler: {existing!r}")
    _HANDLERS[topic] = handler
    return handler


def outbox_handler(topic: str) -> Callable[[OutboxHandler], OutboxHandler]:
    """Decorator form of ``register_outbox_handler``."""

    def decorate(handler: OutboxHandler) -> OutboxHandler:
        return register_outbox_handler(topic, handler)

    return decorate


def handler_for(topic: str) -> OutboxHandler:
    try:
        return _HANDLERS[topic]
    except KeyError:
        raise UnknownTopicError(f"no outbox handler is registered for topic {topic!r}") from None


def unregister_outbox_handler(topic: str) -> None:
    """For tests that register a throwaway topic."""
    _HANDLERS.pop(topic, None)


def topics() -> list[str]:
    return sorted(_HANDLERS)


@dataclass(frozen=True)
class RetryPolicy:
    """How a topic's failed rows are retried: ``base * 2^(n-1)`` seconds capped at ``cap``
    (with the dispatcher's jitter), dead after ``max_attempts`` or once the row is older than
    ``give_up_after``, whichever comes first."""

    max_attempts: int
    base_seconds: float
    cap_seconds: float
    give_up_after: timedelta | None = None


RetryPolicyFactory = Callable[[], RetryPolicy]

_POLICIES: dict[str, RetryPolicyFactory] = {}


def register_retry_policy(topic: str, policy: RetryPolicyFactory) -> None:
    """Give ``topic`` its own retry policy; ``policy()`` is called at each failure, so it may
    read settings (tests and operators change them without re-registering)."""
    _POLICIES[topic] = policy


def retry_policy_for(topic: str) -> RetryPolicy | None:
    """The topic's policy, or None for the global OUTBOX_* settings."""
    factory = _POLICIES.get(topic)
    return factory() if factory is not None else None


def topics_with_retry_policy() -> list[str]:
    return sorted(_POLICIES)


def unregister_retry_policy(topic: str) -> None:
    _POLICIES.pop(topic, None)
