"""Business events: one call, in the business transaction, per change the outside may hear of.

Apps announce a change with ``emit(event_type, data, key=...)`` inside the transaction that
makes it; the listeners registered here (outbound webhooks, alerts, ...) record what they need in
that same transaction, so an event exists if and only if its change committed. ``key`` names the
business change (``"invoice.finalized:<invoice id>"``): emitting it again, because a task was
retried or died after the commit, must be a no-op in every listener. ``data`` is the JSON payload
(Decimals and datetimes allowed; listeners serialise them).

The base knows no listener: apps register theirs from ``AppConfig.ready()``. With none
registered, ``emit`` does nothing, so an app may announce events before anyone listens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

Event = tuple[Mapping[str, Any], str]  # (data, key)


class Listener(Protocol):
    def __call__(self, event_type: str, data: Mapping[str, Any], *, key: str) -> None: ...


class BatchListener(Protocol):
    def __call__(self, event_type: str, events: Sequence[Event]) -> None: ...


_listeners: dict[str, Listener] = {}
_batch_listeners: dict[str, BatchListener] = {}


def register_listener(name: str, listener: Listener, *, many: BatchListener | None = None) -> None:
    """Register ``listener`` under ``name`` (registering a name again replaces it); ``many``,
    if given, records a whole ``emit_many`` at once (with the same effects as ``listener``
    called for each event in turn)."""
    _listeners[name] = listener
    _batch_listeners.pop(name, None)
    if many is not None:
        _batch_listeners[name] = many


def unregister_listener(name: str) -> None:
    _listeners.pop(name, None)
    _batch_listeners.pop(name, None)


def listeners() -> list[str]:
    return sorted(_listeners)


def emit(event_type: str, data: Mapping[str, Any], *, key: str) -> None:
    """Announce ``event_type`` to every listener; call it inside the business transaction."""
    if not key:
        raise ValueError("An event needs the key of the business change it announces.")
    for listener in list(_listeners.values()):
        listener(event_type, data, key=key)


def emit_many(event_type: str, events: Sequence[Event]) -> None:
    """``emit`` for many changes of one type, in order (a billing run finalizing a batch of
    invoices): a listener with a batch form records them all at once, the others one by
    one. The keys keep their meaning: each names one change, emitting it again is a no-op."""
    if any(not key for _data, key in events):
        raise ValueError("An event needs the key of the business change it announces.")
    if not events:
        return
    for name, listener in list(_listeners.items()):
        many = _batch_listeners.get(name)
        if many is not None:
            many(event_type, events)
            continue
        for data, key in events:
            listener(event_type, data, key=key)
