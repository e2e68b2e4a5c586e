"""The same machine's raw PostgreSQL insert rate for the same rows, from one client.

- ``copy``: COPY straight into a copy of the events table (same indexes), no dedup: the
  ceiling for any ingest path.
- ``service_sql``: the ingest service's own SQL (COPY to staging + INSERT … ON CONFLICT …
  RETURNING + rollup queue row), in-process, no HTTP and no validation.
- ``service``: ``events_ingest`` in-process (validation + SQL), one process.
Each transaction holds 1,000 rows and commits (durably, per the server's settings).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from bench.ingest.client import ClientPlan, build_bodies


@dataclass(frozen=True)
class Ceiling:
    copy_per_s: float
    service_sql_per_s: float
    service_per_s: float
    events: int


def _batches(count: int, customers: int, tag: str) -> list[list[dict]]:
    plan = ClientPlan(0, "", 1000, 0.0, count // 1000, 0.0, 0.0, customers, tag, 99)
    return [json.loads(body)["events"] for body in build_bodies(plan)]


def measure(*, events: int, customers: int) -> Ceiling:
    from metering.ingest.limits import ingest_limits
    from metering.ingest.service import events_ingest, resolve_customers
    from metering.ingest.store import insert_events
    from metering.ingest.wire import EventValidator, ValidEvent

    customer_ids = resolve_customers(f"bench-{i}" for i in range(customers))
    validator = EventValidator(ingest_limits(), timezone.now(), check_imprecise=False)
    rows_sets = []
    for n, batch in enumerate(_batches(events, customers, "ceil")):
        valid = [validator.validate(i, raw) for i, raw in enumerate(batch)]
        rows_sets.append([v for v in valid if isinstance(v, ValidEvent)])
        if n == 0:
            assert len(rows_sets[0]) == len(batch), "bench events must be valid"
    connection.ensure_connection()
    pg = connection.connection
    with pg.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_ceiling_copy")
        cur.execute("CREATE TABLE bench_ceiling_copy (LIKE metering_usageevent INCLUDING ALL)")
    pg.commit()
    started = time.perf_counter()
    for n, rows in enumerate(rows_sets):
        with (
            transaction.atomic(),
            pg.cursor() as cur,
            cur.copy(
                "COPY bench_ceiling_copy (namespace, event_id, customer_id, customer_ref, type,"
                " timestamp, timestamp_given, properties, content_hash, received_at, is_late)"
                " FROM STDIN"
            ) as copy,
        ):
            for e in rows:
                copy.write_row(
                    (
                        f"c{n}",
                        e.event_id,
                        customer_ids.get(e.customer_ref),
                        e.customer_ref,
                        e.type,
                        e.timestamp,
                        True,
                        e.properties_json,
                        e.content_hash,
                        e.timestamp,
                        False,
                    )
                )
    copy_rate = events / (time.perf_counter() - started)
    with pg.cursor() as cur:
        cur.execute("DROP TABLE bench_ceiling_copy")
    pg.commit()
    now = timezone.now()
    started = time.perf_counter()
    for rows in rows_sets:
        with transaction.atomic():
            insert_events(rows, customer_ids, now, "bench-ceiling-sql")
    sql_rate = events / (time.perf_counter() - started)
    batches = _batches(events, customers, "ceil-svc")
    started = time.perf_counter()
    for batch in batches:
        events_ingest(
            api_key=None, events=batch, id_namespace="bench-ceiling-svc", check_imprecise=False
        )
    service_rate = events / (time.perf_counter() - started)
    return Ceiling(copy_rate, sql_rate, service_rate, events)
