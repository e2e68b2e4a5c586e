"""Vendor translators: how an event in a vendor's format becomes Tally's, by vendor name.

The compat adapters (``metering.compat``) register theirs when the app is ready; the review
service replays a vendor's refused event through the same translator without importing the
adapters (which sit on top of ingest and review). A translator answers a ``Translated`` event
with its id namespace, or ``Refused`` when the event cannot be placed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Translated:
    """A vendor event in Tally's wire format, and the id namespace it belongs to."""

    namespace: str
    event: Any


@dataclass(frozen=True)
class Refused:
    """A vendor event the adapter cannot place in a namespace (e.g. a CloudEvent without
    ``source``): it is answered as rejected without reaching the ingest service."""

    event_id: str
    reason: str
    message: str


Translator = Callable[[Any], Translated | Refused]

_translators: dict[str, Translator] = {}


def register_translator(vendor: str, translate: Translator) -> None:
    _translators[vendor] = translate


def translator(vendor: str) -> Translator:
    """``vendor``'s translator; a vendor nobody registered is a programming error."""
    try:
        return _translators[vendor]
    except KeyError:
        raise LookupError(f"No translator registered for vendor {vendor!r}.") from None
