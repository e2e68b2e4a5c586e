"""Webhook events: parse a verified delivery, and the per-app handler registry.

The inbox (issue 5, next step) stores the raw body first and processes it in a task; this module
gives that task a typed event and the handlers registered for its type. Apps register in their
``AppConfig.ready()`` so ``invoicing`` never imports ``disputes``::

    from invoicing.stripe.events import handlers
    handlers.register("charge.dispute.*", dispute_event_apply)

An event type no handler claims is stored and ignored (``handlers_for`` returns ``[]``).
No SDK here: parsing a delivery must not depend on the SDK's object model or API version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from billingsite.errors import AppError
from billingsite.strictjson import JSONRejected, loads

PAYLOAD_INVALID = "webhook_payload_invalid"
# Unix seconds up to 9999-12-31T23:59:59Z: later ones cannot be stored as a datetime.
MAX_CREATED = 253_402_300_799


class WebhookPayloadError(AppError):
    """A correctly signed body that is not a Stripe event we can read."""


@dataclass(frozen=True)
class StripeEvent:
    """The fields Tally relies on; ``data_object`` is the object as Stripe sent it (a snapshot at
    ``created``, which may be older than a later event's: compare before applying)."""

    id: str
    type: str
    created: int
    livemode: bool
    api_version: str | None
    data_object: dict[str, Any]
    previous_attributes: dict[str, Any] | None

    @property
    def object_id(self) -> str | None:
        value = self.data_object.get("id")
        return value if isinstance(value, str) else None

    @property
    def object_type(self) -> str | None:
        value = self.data_object.get("object")
        return value if isinstance(value, str) else None


def parse_event(payload: bytes) -> StripeEvent:
    """Read an event envelope (call after ``verify_signature``); ``WebhookPayloadError`` when a
    required field is missing or of the wrong type."""
    try:
        body = loads(payload)
    except JSONRejected as exc:
        raise _invalid(f"not JSON Tally accepts ({exc})") from exc
    if not isinstance(body, dict) or body.get("object") != "event":
        raise _invalid("not an event object")
    data = body.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise _invalid("data.object is missing")
    event_id, event_type, created = body.get("id"), body.get("type"), body.get("created")
    if not (isinstance(event_id, str) and event_id.startswith("evt_")):
        raise _invalid("id is missing")
    if not (isinstance(event_type, str) and event_type):
        raise _invalid("type is missing")
    if not isinstance(created, int) or isinstance(created, bool):
        raise _invalid("created is missing or not an integer")
    if not 0 <= created <= MAX_CREATED:
        raise _invalid("created is not a Unix time between 1970 and 9999")
    previous = data.get("previous_attributes")
    api_version = body.get("api_version")
    return StripeEvent(
        id=event_id,
        type=event_type,
        created=created,
        livemode=body.get("livemode") is True,
        api_version=api_version if isinstance(api_version, str) else None,
        data_object=data["object"],
        previous_attributes=previous if isinstance(previous, dict) else None,
    )


def _invalid(reason: str) -> WebhookPayloadError:
    message = f"The webhook body is not a Stripe event: {reason}."
    return WebhookPayloadError(PAYLOAD_INVALID, message)


Handler = Callable[[StripeEvent], None]


class HandlerRegistry:
    """Event type -> handlers. A pattern is an exact type (``invoice.paid``) or a prefix ending in
    ``.*`` (``charge.dispute.*``). Handlers run in registration order; registering the same
    handler twice for a pattern is a no-op (``ready()`` may run more than once in tests)."""

    def __init__(self) -> None:
        self._entries: list[tuple[str, Handler]] = []

    def register(self, pattern: str, handler: Handler) -> Handler:
        if not pattern or ("*" in pattern and not pattern.endswith(".*")) or pattern.count("*") > 1:
            raise ValueError(f"event pattern {pattern!r}: use 'a.b' or 'a.*'")
        if (pattern, handler) not in self._entries:
            self._entries.append((pattern, handler))
        return handler

    def handles(self, *patterns: str) -> Callable[[Handler], Handler]:
        """Decorator form of ``register``."""

        def decorate(handler: Handler) -> Handler:
            for pattern in patterns:
                self.register(pattern, handler)
            return handler

        return decorate

    def handlers_for(self, event_type: str) -> list[Handler]:
        found: list[Handler] = []
        for pattern, handler in self._entries:
            if _matches(pattern, event_type) and handler not in found:
                found.append(handler)
        return found

    def unregister(self, pattern: str, handler: Handler) -> None:
        self._entries = [entry for entry in self._entries if entry != (pattern, handler)]


def _matches(pattern: str, event_type: str) -> bool:
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


handlers = HandlerRegistry()
