"""The columnar usage store (ClickHouse engine): ``chdb:<path>`` in-process, ``clickhouse://``
against a server. ``register`` is called from ``MeteringConfig.ready``."""

from __future__ import annotations

from metering.stores import EventStore, register_store


def _build(url: str) -> EventStore:
    from metering.stores.columnar.store import store_for

    return store_for(url)


def register() -> None:
    register_store("chdb", _build)
    register_store("clickhouse", _build)
