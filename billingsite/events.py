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

from collections.abc import Mapping
from typing import Any, Protocol


class Listener(Protocol):
    def __call__(self, event_type: str, data: Mapping[str, Any], *, key: str) -> None: ...


_listeners: dict[str, Listener] = {}


def register_listener(name: str, listener: Listener) -> None:
    """Register ``listener`` under ``name`` (registering a name again replaces it)."""
    _listeners[name] = listener


def unregister_listener(name: str) -> None:
    _listeners.pop(name, None)


def listeners() -> list[str]:
    return sorted(_listeners)


def emit(event_type: str, data: Mapping[str, Any], *, key: str) -> None:
    """Announce ``event_type`` to every listener; call it inside the business transaction."""
    if not key:
        raise ValueError("An event needs the key of the business change it announces.")
    for listener in list(_listeners.values()):
        listener(event_type, data, key=key)
