"""The database half of ingestion: one COPY into a per-connection staging table, then one
statement that inserts the ids into the dedup key table (``INSERT ... SELECT ... ORDER BY
event_id ON CONFLICT DO NOTHING RETURNING``: the key's primary key decides new vs stored), the
events whose key was new into the partitioned events table, and queues the new attributed events
for rollup, all in the caller's transaction.

COPY keeps per-event cost in C (psycopg's binary wheel) instead of quoting parameter arrays in
Python; ordering the insert by id makes concurrent batches lock ids in one order (no deadlock).

Round trips per batch (issue 15): the statement also empties the staging table (a
data-modifying CTE; every part of the statement reads the snapshot taken before it), so the
table only has to be created, once per connection, and not emptied before each COPY. It is
created when Django opens the connection, in autocommit (``stage_on_connect``, connected to
``connection_created``), so no later rollback can take it away; a connection without it
(the creation failed, e.g. on a read-only server) creates it in each ingest transaction as
before. (Remembering a creation made inside a transaction is not safe: on_commit callbacks can
run without the commit, e.g. in tests that execute them inside a rolled-back transaction.)
``insert_events_attributing`` also resolves the customers (external ids, then aliases, as
``resolve_customers``) inside the statement, from the batch's distinct references: one round
trip fewer for keys that may send any customer's events. The staging table is session
state: a transaction-pooling proxy between Tally and PostgreSQL would need it created in
every transaction again.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connection

from metering.ingest.wire import ValidEvent

_STAGE = "metering_ingest_stage"
_STAGE_DDL = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (event_id text, customer_id bigint,"
    " customer_ref text, type text, ts timestamptz, given boolean, props text, hash bytea)"
    " ON COMMIT DELETE ROWS"
)
# {customers}: the CTE naming each reference's customer (none when the caller resolved them
# and wrote customer_id into the staging rows); {customer}: the expression for customer_id.
_TEMPLATE = """
WITH {customers}keys AS (
    INSERT INTO metering_usageeventkey (namespace, event_id, event_pk, timestamp, content_hash)
    SELECT %(ns)s, s.event_id, nextval('metering_usageevent_id_seq'),
           s.ts, s.hash
    FROM {stage} s ORDER BY s.event_id
    ON CONFLICT (namespace, event_id) DO NOTHING
    RETURNING event_id, event_pk
), ins AS (
    INSERT INTO metering_usageevent
        (id, namespace, event_id, customer_id, customer_ref, type, timestamp, timestamp_given,
         properties, content_hash, received_at, attributed_at, is_late)
    SELECT k.event_pk, %(ns)s, s.event_id, {customer}, s.customer_ref, s.type, s.ts, s.given,
           s.props::jsonb, s.hash, %(at)s,
           CASE WHEN {customer} IS NULL THEN NULL ELSE %(at)s::timestamptz END, false
    FROM keys k JOIN {stage} s ON s.event_id = k.event_id{join}
    RETURNING id, event_id, customer_id
), queued AS (
    INSERT INTO metering_rollupqueue (event_pks, created_at)
    SELECT array_agg(id ORDER BY id), %(at)s FROM ins WHERE customer_id IS NOT NULL
    HAVING count(*) > 0
), cleared AS (
    DELETE FROM {stage}
)
SELECT id, event_id, customer_id IS NOT NULL FROM ins
"""
# Customers named by the caller (staging rows carry customer_id).
_INSERT = _TEMPLATE.format(customers="", stage=_STAGE, customer="s.customer_id", join="")
# Customers resolved here, as resolve_customers does: an alias wins over an external id
# (the services keep the two apart; the tie-break only keeps one row per reference).
_INSERT_ATTRIBUTING = _TEMPLATE.format(
    customers="""cust AS (
    SELECT DISTINCT ON (ref) ref, id FROM (
        SELECT external_id AS ref, id, 0 AS rank FROM accounts_customer
        WHERE external_id = ANY(%(refs)s)
        UNION ALL
        SELECT alias, customer_id, 1 FROM accounts_customeralias WHERE alias = ANY(%(refs)s)
    ) named ORDER BY ref, rank DESC
), """,
    stage=_STAGE,
    customer="c.id",
    join="\n    LEFT JOIN cust c ON c.ref = s.customer_ref",
)
_EXISTING = """
SELECT event_id, event_pk, content_hash FROM metering_usageeventkey
WHERE namespace = %s AND event_id = ANY(%s)
"""

logger = logging.getLogger(__name__)

# psycopg connections whose staging table was created (and committed) when they opened.
_staged: weakref.WeakSet[Any] = weakref.WeakSet()


def stage_on_connect(sender: Any, connection: Any, **kwargs: Any) -> None:
    """``connection_created`` receiver: create the staging table on a new PostgreSQL
    connection while it is in autocommit (committed at once), and remember it. Not behind a
    transaction-pooling bouncer (``DATABASE_TRANSACTION_POOLING``, which sets Django's
    ``DISABLE_SERVER_SIDE_CURSORS``): the next transaction may run on another server
    connection, so each batch makes the table in its own transaction."""
    if connection.vendor != "postgresql" or not connection.get_autocommit():
        return
    if connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS"):
        return
    pg = connection.connection
    try:
        with pg.cursor() as cursor:
            cursor.execute(_STAGE_DDL)
    except Exception:  # e.g. a read-only server: ingest transactions create it themselves
        logger.debug("staging table not created on connect", exc_info=True)
        return
    _staged.add(pg)


Inserted = dict[str, int]
Existing = dict[str, tuple[int, bytes]]


def insert_events(
    events: Sequence[ValidEvent],
    customer_ids: dict[str, int],
    received_at: datetime,
    namespace: str,
) -> tuple[Inserted, Existing]:
    """Insert events whose id is new. Returns ``(inserted, existing)``: new ids -> pk, and for
    ids already stored (by anyone, committed before us) -> (pk, content hash)."""
    inserted, existing, _attributed = _insert(events, customer_ids, received_at, namespace)
    return inserted, existing


def insert_events_attributing(
    events: Sequence[ValidEvent], received_at: datetime, namespace: str
) -> tuple[Inserted, Existing, set[str]]:
    """``insert_events`` resolving the customers in the same statement; also returns the new
    ids that were attributed to a customer (the others are stored unattributed)."""
    return _insert(events, None, received_at, namespace)


def _insert(
    events: Sequence[ValidEvent],
    customer_ids: dict[str, int] | None,
    received_at: datetime,
    namespace: str,
) -> tuple[Inserted, Existing, set[str]]:
    if not events:
        return {}, {}, set()
    connection.ensure_connection()
    pg = connection.connection
    ids = customer_ids or {}
    with pg.cursor() as cursor:
        if pg not in _staged:
            # One round trip; DELETE (not TRUNCATE, which rewrites the catalog) empties rows a
            # failed statement of this transaction could have left (none are expected).
            cursor.execute(f"{_STAGE_DDL}; DELETE FROM {_STAGE}")  # noqa: S608
        with cursor.copy(f"COPY {_STAGE} FROM STDIN") as copy:
            for e in events:
                copy.write_row(
                    (
                        e.event_id,
                        ids.get(e.customer_ref),
                        e.customer_ref,
                        e.type,
                        e.timestamp,
                        e.timestamp_given,
                        e.properties_json,
                        e.content_hash,
                    )
                )
        params: dict[str, Any] = {"ns": namespace, "at": received_at}
        if customer_ids is None:
            params["refs"] = list({e.customer_ref for e in events})
        cursor.execute(_INSERT if customer_ids is not None else _INSERT_ATTRIBUTING, params)
        inserted: Inserted = {}
        attributed: set[str] = set()
        for pk, event_id, has_customer in cursor.fetchall():
            inserted[event_id] = pk
            if has_customer:
                attributed.add(event_id)
        existing: Existing = {}
        missing = [e.event_id for e in events if e.event_id not in inserted]
        if (
            missing
        ):  # by id through the key table's primary key (the staging table has no statistics)
            cursor.execute(_EXISTING, [namespace, missing])
            existing = {eid: (pk, bytes(digest)) for eid, pk, digest in cursor.fetchall()}
    return inserted, existing, attributed
