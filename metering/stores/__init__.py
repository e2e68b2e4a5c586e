"""Where usage events are kept: the seam between ingestion and the store that counts them.

The default store is PostgreSQL (``metering.ingest.store``): events, dedup by the unique
constraint on ``(namespace, event_id)``, rollup queue row in the caller's transaction. Other
stores (a columnar store for operators who outgrow one PostgreSQL, see docs/scaling.md) plug in
by name through ``TALLY_EVENT_STORE`` and ``register_store``; ingestion (the API in direct mode,
the event-log sinks in log mode) asks ``event_store()`` and never imports a store directly.

Contract every store keeps (DESIGN invariant 1): ``insert_events`` stores each id of the batch
that is new in its namespace and reports, for every other id, the stored row's content hash, so
the caller classifies duplicate vs conflict; calling it again with the same ``batch_token``
(a retried or re-delivered batch) stores nothing twice. Row ids are the store's own: a store
outside PostgreSQL reports 0 for a stored id (the ingest service then records a conflict with
no ``existing`` row) and synthetic ids for new ones (used only to wake the rollup worker).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from django.conf import settings

from metering.ingest.wire import ValidEvent

Inserted = dict[str, int]
Existing = dict[str, tuple[int, bytes]]


class EventStore(Protocol):
    name: str

    def insert_events(
        self,
        events: Sequence[ValidEvent],
        customer_ids: dict[str, int],
        received_at: datetime,
        namespace: str,
        *,
        batch_token: str = "",
    ) -> tuple[Inserted, Existing]:
        """New ids -> row id, and ids stored before -> (row id, content hash)."""
        ...


class PostgresStore:
    """The system-of-record path: usage events in PostgreSQL, in the caller's transaction.

    ``batch_token`` is not needed here: a replayed batch meets the unique constraint and comes
    back as ``existing`` with the same hashes (duplicates), inside one transaction."""

    name = "postgres"

    def insert_events(
        self,
        events: Sequence[ValidEvent],
        customer_ids: dict[str, int],
        received_at: datetime,
        namespace: str,
        *,
        batch_token: str = "",
    ) -> tuple[Inserted, Existing]:
        from metering.ingest.store import insert_events

        return insert_events(events, customer_ids, received_at, namespace)

    def insert_events_attributing(
        self, events: Sequence[ValidEvent], received_at: datetime, namespace: str
    ) -> tuple[Inserted, Existing, set[str]]:
        """``insert_events`` with the customers resolved in the same statement (one round trip
        fewer); also returns the new ids that were attributed to a customer."""
        from metering.ingest.store import insert_events_attributing

        return insert_events_attributing(events, received_at, namespace)


_FACTORIES: dict[str, Callable[[str], EventStore]] = {"postgres": lambda _url: PostgresStore()}


def register_store(scheme: str, factory: Callable[[str], EventStore]) -> None:
    """Make ``TALLY_EVENT_STORE=<scheme>:...`` build a store with ``factory(url)``."""
    _FACTORIES[scheme] = factory


def event_store() -> EventStore:
    """The configured store (``TALLY_EVENT_STORE``; PostgreSQL when unset)."""
    url = getattr(settings, "TALLY_EVENT_STORE", "") or "postgres"
    scheme = url.split(":", 1)[0]
    if scheme not in _FACTORIES:
        raise ValueError(
            f"TALLY_EVENT_STORE: unknown store {scheme!r} (known: {sorted(_FACTORIES)})"
        )
    return _FACTORIES[scheme](url)
