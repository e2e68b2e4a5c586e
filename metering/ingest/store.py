"""The database half of ingestion: one COPY into a per-connection staging table, then one
statement that inserts the ids into the dedup key table (``INSERT ... SELECT ... ORDER BY
event_id ON CONFLICT DO NOTHING RETURNING``: the key's primary key decides new vs stored), the
events whose key was new into the partitioned events table, and queues the new attributed events
for rollup, all in the caller's transaction.

COPY keeps per-event cost in C (psycopg's binary wheel) instead of quoting parameter arrays in
Python; ordering the insert by id makes concurrent batches lock ids in one order (no deadlock).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import connection

from metering.ingest.wire import ValidEvent

_STAGE = "metering_ingest_stage"
_STAGE_DDL = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (event_id text, customer_id bigint,"
    " customer_ref text, type text, ts timestamptz, given boolean, props text, hash bytea)"
    " ON COMMIT DELETE ROWS"
)
_INSERT = f"""
WITH keys AS (
    INSERT INTO metering_usageeventkey (namespace, event_id, event_pk, timestamp, content_hash)
    SELECT %(ns)s, s.event_id, nextval('metering_usageevent_id_seq'),
           s.ts, s.hash
    FROM {_STAGE} s ORDER BY s.event_id
    ON CONFLICT (namespace, event_id) DO NOTHING
    RETURNING event_id, event_pk
), ins AS (
    INSERT INTO metering_usageevent
        (id, namespace, event_id, customer_id, customer_ref, type, timestamp, timestamp_given,
         properties, content_hash, received_at, attributed_at, is_late)
    SELECT k.event_pk, %(ns)s, s.event_id, s.customer_id, s.customer_ref, s.type, s.ts, s.given,
           s.props::jsonb, s.hash, %(at)s,
           CASE WHEN s.customer_id IS NULL THEN NULL ELSE %(at)s::timestamptz END, false
    FROM keys k JOIN {_STAGE} s ON s.event_id = k.event_id
    RETURNING id, event_id, customer_id
), queued AS (
    INSERT INTO metering_rollupqueue (event_pks, created_at)
    SELECT array_agg(id ORDER BY id), %(at)s FROM ins WHERE customer_id IS NOT NULL
    HAVING count(*) > 0
)
SELECT id, event_id FROM ins
"""  # noqa: S608  (table names are constants)
_EXISTING = """
SELECT event_id, event_pk, content_hash FROM metering_usageeventkey
WHERE namespace = %s AND event_id = ANY(%s)
"""


def insert_events(
    events: Sequence[ValidEvent],
    customer_ids: dict[str, int],
    received_at: datetime,
    namespace: str,
) -> tuple[dict[str, int], dict[str, tuple[int, bytes]]]:
    """Insert events whose id is new. Returns ``(inserted, existing)``: new ids -> pk, and for
    ids already stored (by anyone, committed before us) -> (pk, content hash)."""
    if not events:
        return {}, {}
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        # One round trip; DELETE (not TRUNCATE, which rewrites the catalog) empties rows left
        # by an earlier batch in the same outer transaction. ON COMMIT clears it otherwise.
        cursor.execute(f"{_STAGE_DDL}; DELETE FROM {_STAGE}")  # noqa: S608
        with cursor.copy(f"COPY {_STAGE} FROM STDIN") as copy:
            for e in events:
                copy.write_row(
                    (
                        e.event_id,
                        customer_ids.get(e.customer_ref),
                        e.customer_ref,
                        e.type,
                        e.timestamp,
                        e.timestamp_given,
                        e.properties_json,
                        e.content_hash,
                    )
                )
        cursor.execute(_INSERT, {"ns": namespace, "at": received_at})
        inserted = {event_id: pk for pk, event_id in cursor.fetchall()}
        existing: dict[str, tuple[int, bytes]] = {}
        missing = [e.event_id for e in events if e.event_id not in inserted]
        if (
            missing
        ):  # by id through the key table's primary key (the staging table has no statistics)
            cursor.execute(_EXISTING, [namespace, missing])
            existing = {eid: (pk, bytes(digest)) for eid, pk, digest in cursor.fetchall()}
    return inserted, existing
