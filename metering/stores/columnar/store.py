"""The columnar usage store (``chdb:<path>``, ``clickhouse://…``): how an event id is counted
once (DESIGN invariant 1) without PostgreSQL's unique index.

- One writer per store (per partition of ids, in log mode: the sink that owns the partition)
  serializes ``insert_events`` with a lock, checks the batch's ids against ``event_keys`` (and
  PostgreSQL, which keeps the unattributed events: see below), and inserts only new ids.
- The insert carries ``insert_deduplication_token`` = a digest of the caller's batch token (the
  log's sequence range) or, without one, of the new ids: a batch written, then re-delivered
  because the writer died before its ack, is dropped by the engine, and the key look-up alone
  already reports its ids as stored; each event keeps its batch token, so a batch re-delivered
  after its PostgreSQL transaction rolled back reports its own ids new again (``_reclaim``).
  Same id + same content -> duplicate; other content -> conflict (the caller records
  ``EventConflict`` in PostgreSQL, with no ``existing`` row: the stored row lives here, its
  synthetic id is reported as 0).
- Row ids are synthetic, from a counter started at the largest stored id: arrival order, as
  PostgreSQL's sequence is, so "latest" ties resolve the same way.
- Unattributed events (no customer yet) are stored in PostgreSQL exactly as on the default
  path (they are rare, reviewed and re-attributed there); when ``events_attribute`` attributes
  them, ``adopt`` copies them here, where they start to count. Their PostgreSQL row stays as
  the id's record, so a later event with that id is still a duplicate or conflict.
- Late events are flagged at insert (``is_late``) from invoicing's closed-through resolver.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connection

from metering.ingest.wire import ValidEvent
from metering.late import closed_through
from metering.models import Aggregation, MeterVersion
from metering.stores.columnar import schema
from metering.stores.columnar.engine import ChdbEngine, Engine, Row, ServerEngine

COLUMNS = (
    "namespace", "event_id", "row_id", "customer_id", "customer_ref", "type", "timestamp",
    "timestamp_given", "properties", "content_hash", "received_at", "is_late", "batch_token",
)  # fmt: skip
_KEYS = (
    "SELECT event_id, content_hash FROM event_keys"
    " WHERE namespace = {ns:String} AND event_id IN {ids:Array(String)}"
)
_PG_KEYS = (
    "SELECT event_id, event_pk, content_hash FROM metering_usageeventkey"
    " WHERE namespace = %s AND event_id = ANY(%s)"
)


def _token(parts: Sequence[str]) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


class ColumnarStore:
    """``EventStore`` on the ClickHouse engine; ``reads`` is its usage-read side."""

    name = "columnar"

    def __init__(self, engine: Engine, url: str) -> None:
        from metering.stores.columnar.reads import ColumnarReads

        self.engine = engine
        self.url = url
        self.lock = threading.RLock()
        self.reads = ColumnarReads(self)
        self._views: set[int] = set()
        self._next_id = 0
        with self.lock:
            for ddl in schema.TABLES:
                engine.command(ddl)
            self._next_id = int(engine.query("SELECT max(row_id) FROM events")[0][0] or 0) + 1

    def insert_events(
        self,
        events: Sequence[ValidEvent],
        customer_ids: dict[str, int],
        received_at: datetime,
        namespace: str,
        *,
        batch_token: str = "",
    ) -> tuple[dict[str, int], dict[str, tuple[int, bytes]]]:
        from metering.ingest.store import insert_events as pg_insert

        if not events:
            return {}, {}
        with self.lock:
            self.sync_views()
            existing = self._existing(namespace, [e.event_id for e in events])
            reclaimed = self._reclaim(namespace, batch_token, events, customer_ids, existing)
            fresh = [e for e in events if e.event_id not in existing]
            counted = [e for e in fresh if e.customer_ref in customer_ids]
            held = [e for e in fresh if e.customer_ref not in customer_ids]
            inserted = self._write(counted, customer_ids, received_at, namespace, batch_token)
        pg_new, pg_existing = pg_insert(held, {}, received_at, namespace) if held else ({}, {})
        # Row id 0 for events kept in the engine: its counter is no PostgreSQL row, and a
        # conflict must not point at one (EventConflict.existing is a PostgreSQL foreign key).
        new = {**dict.fromkeys([*inserted, *reclaimed], 0), **pg_new}
        return new, {**existing, **pg_existing}

    def _reclaim(
        self,
        namespace: str,
        batch_token: str,
        events: Sequence[ValidEvent],
        customer_ids: dict[str, int],
        existing: dict[str, tuple[int, bytes]],
    ) -> set[str]:
        """Ids this same batch (``batch_token``) already wrote: a sink that died after the
        engine write and before its PostgreSQL commit left them here, and the re-delivered
        batch is their first application as far as PostgreSQL knows. They are reported new
        again (``accepted``, as on the first try), not ``duplicate``; nothing is written
        twice. Removed from ``existing``. Looked up by customer (the table's order key)."""
        ids = [
            e.event_id
            for e in events
            if e.customer_ref in customer_ids and existing.get(e.event_id, (1, b""))[0] == 0
        ]
        if not batch_token or not ids:
            return set()
        rows = self.engine.query(
            "SELECT DISTINCT event_id FROM events WHERE customer_id IN {c:Array(UInt64)}"
            " AND namespace = {ns:String} AND event_id IN {ids:Array(String)}"
            " AND batch_token = {t:String}",
            {"c": sorted({customer_ids[e.customer_ref] for e in events if e.event_id in ids}),
             "ns": namespace, "ids": ids, "t": batch_token},
        )  # fmt: skip
        mine = {eid for (eid,) in rows}
        for eid in mine:
            existing.pop(eid)
        return mine

    def _existing(self, namespace: str, ids: list[str]) -> dict[str, tuple[int, bytes]]:
        found = {
            eid: (0, bytes.fromhex(digest))
            for eid, digest in self.engine.query(_KEYS, {"ns": namespace, "ids": ids})
        }
        rest = [i for i in ids if i not in found]
        if rest:
            with connection.cursor() as cursor:
                cursor.execute(_PG_KEYS, [namespace, rest])
                for eid, pk, digest in cursor.fetchall():
                    found[eid] = (pk, bytes(digest))
        return found

    def _write(
        self,
        events: Sequence[ValidEvent],
        customer_ids: dict[str, int],
        received_at: datetime,
        namespace: str,
        batch_token: str,
    ) -> dict[str, int]:
        if not events:
            return {}
        closed = closed_through({customer_ids[e.customer_ref] for e in events})
        rows: list[Row] = []
        inserted: dict[str, int] = {}
        for offset, e in enumerate(sorted(events, key=lambda e: e.event_id)):
            customer = customer_ids[e.customer_ref]
            late = customer in closed and e.timestamp < closed[customer]
            row_id = self._next_id + offset
            inserted[e.event_id] = row_id
            rows.append(
                (namespace, e.event_id, row_id, customer, e.customer_ref, e.type, e.timestamp,
                 e.timestamp_given, e.properties_json, e.content_hash.hex(), received_at, late,
                 batch_token)
            )  # fmt: skip
        token = _token([namespace, batch_token] if batch_token else [namespace, *inserted])
        self.engine.insert("events", COLUMNS, rows, token=token)
        self._next_id += len(rows)
        return inserted

    def adopt(self, event_pks: list[int]) -> int:
        """Copy events attributed in PostgreSQL (``events_attribute``) into this store, where
        they start to count. Idempotent: ids already here are skipped, and the insert token is
        derived from the PostgreSQL ids."""
        if not event_pks:
            return 0
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT namespace, event_id, customer_id, customer_ref, type, timestamp,"
                " timestamp_given, properties::text, content_hash, received_at"
                " FROM metering_usageevent WHERE id = ANY(%s) ORDER BY id",
                [event_pks],
            )
            found = cursor.fetchall()
        # Late as on the PostgreSQL path (there the rollup worker flags adopted events): an
        # event attributed after its customer's period was finalized is billed as adjustment.
        closed = closed_through({row[2] for row in found})
        with self.lock:
            self.sync_views()
            rows: list[Row] = []
            for ns, eid, customer, ref, type_, ts, given, props, digest, received in found:
                if self.engine.query(_KEYS, {"ns": ns, "ids": [eid]}):
                    continue
                late = customer in closed and ts < closed[customer]
                rows.append(
                    (ns, eid, self._next_id + len(rows), customer, ref, type_, ts, given,
                     props, bytes(digest).hex(), received, late, "")
                )  # fmt: skip
            token = _token(["adopt", *(str(pk) for pk in event_pks)])
            self.engine.insert("events", COLUMNS, rows, token=token)
            self._next_id += len(rows)
        return len(rows)

    def stored_event(self, namespace: str, event_id: str) -> dict[str, Any] | None:
        """What the engine keeps of one id (the event status API): customer, reference,
        arrival and late flag; None when it is not here."""
        rows = self.engine.query(
            "SELECT customer_id, customer_ref, received_at, is_late FROM events"
            " WHERE namespace = {ns:String} AND event_id = {id:String} LIMIT 1",
            {"ns": namespace, "id": event_id},
        )
        if not rows:
            return None
        customer_id, ref, received_at, late = rows[0]
        return {"customer_id": int(customer_id), "customer_ref": ref,
                "received_at": received_at, "is_late": bool(late)}  # fmt: skip

    def sync_views(self) -> None:
        """Create the rollup view of each meter version that has none yet, and backfill it
        from the events stored before it (under the writer lock: no insert runs between)."""
        with self.lock:
            versions = [
                v
                for v in MeterVersion.objects.exclude(pk__in=self._views)
                if v.aggregation != Aggregation.TIME_WEIGHTED_SUM
            ]
            if not versions:
                return
            done = {int(r[0]) for r in self.engine.query("SELECT version_id FROM rollup_views")}
            for version in versions:
                if version.pk not in done:
                    self._build_view(version)
                self._views.add(version.pk)

    def _build_view(self, version: MeterVersion) -> None:
        """(Re)build one version's view from scratch; ``rollup_views`` records completion, so
        a crash half-way is redone (drop, clear, create, backfill) on the next sync."""
        name, target = schema.view_name(version), schema.view_target(version)
        select = schema.view_select(version)
        self.engine.command(f"DROP VIEW IF EXISTS {name}")
        self.engine.command(
            f"ALTER TABLE {target} DELETE WHERE meter_version_id = {{v:UInt64}}"
            " SETTINGS mutations_sync = 2",
            {"v": version.pk},
        )
        self.engine.command(f"CREATE MATERIALIZED VIEW {name} TO {target} AS {select}")
        self.engine.command(f"INSERT INTO {target} {select}")
        self.engine.command(
            "INSERT INTO rollup_views SETTINGS insert_deduplicate = 0 VALUES ({v:UInt64})",
            {"v": version.pk},
        )

    def has_view(self, version_pk: int) -> bool:
        return version_pk in self._views

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]:
        return self.engine.query(sql, params)


_STORES: dict[str, ColumnarStore] = {}
_STORES_LOCK = threading.Lock()


def store_for(url: str) -> ColumnarStore:
    """One store object per URL per process (the writer lock and the row-id counter)."""
    with _STORES_LOCK:
        if url not in _STORES:
            engine: Engine
            if url.startswith("chdb:"):
                engine = ChdbEngine(url[len("chdb:") :])
            else:
                engine = ServerEngine(url)
            _STORES[url] = ColumnarStore(engine, url)
        return _STORES[url]
