"""``check_invariants`` on the columnar store (invariants 1 and 2 there): no id twice, every
event attributed in PostgreSQL also counted here, and the engine's rollups equal a count of
the raw events per customer, meter (or type) and day."""

from __future__ import annotations

from collections.abc import Iterator

from django.db import connection

from metering.models import Aggregation, MeterVersion
from metering.stores.columnar import schema
from metering.stores.columnar.store import ColumnarStore

LIMIT = 20


def ids_stored_once(store: ColumnarStore) -> Iterator[tuple[str, str]]:
    for table in ("events", "event_keys"):
        for ns, eid, n in store.query(
            f"SELECT namespace, event_id, count() FROM {table} GROUP BY namespace, event_id"
            f" HAVING count() > 1 LIMIT {LIMIT}"
        ):
            yield f"{table} {ns!r}/{eid!r}", f"stored {n} times"


def attributed_events_adopted(store: ColumnarStore) -> Iterator[tuple[str, str]]:
    """Events attributed in PostgreSQL must have been copied here (``adopt``)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT namespace, event_id FROM metering_usageevent WHERE customer_id IS NOT NULL"
        )
        rows = cursor.fetchall()
    for start in range(0, len(rows), 10_000):
        chunk = rows[start : start + 10_000]
        found = {
            (ns, eid)
            for ns, eid in store.query(
                "SELECT namespace, event_id FROM event_keys WHERE (namespace, event_id)"
                " IN (SELECT tupleElement(k, 1), tupleElement(k, 2)"
                " FROM (SELECT arrayJoin({k:Array(Tuple(String, String))}) AS k))",
                {"k": [list(r) for r in chunk]},
            )
        }
        for ns, eid in chunk:
            if (ns, eid) not in found:
                yield f"event {ns!r}/{eid!r}", "attributed in PostgreSQL, not in the usage store"


def _compare(store: ColumnarStore, label: str, raw: str, rolled: str) -> Iterator[tuple[str, str]]:
    sql = (
        "SELECT if(x.n = 0, r.c, x.c), if(x.n = 0, r.k, x.k), if(x.n = 0, r.d, x.d), x.n, r.n"
        f" FROM ({raw}) AS x FULL OUTER JOIN ({rolled}) AS r"
        f" ON x.c = r.c AND x.k = r.k AND x.d = r.d WHERE x.n != r.n LIMIT {LIMIT}"
    )
    for customer, key, day, expected, stored in store.query(sql):
        yield (
            f"{label} customer {customer} {key} {day}",
            f"raw events {expected}, rollup {stored}",
        )


def rollups_match_events(store: ColumnarStore) -> Iterator[tuple[str, str]]:
    yield from _compare(
        store,
        "daily_counts",
        "SELECT customer_id AS c, toString(type) AS k, toDate(timestamp) AS d, count() AS n"
        " FROM events GROUP BY c, k, d",
        "SELECT customer_id AS c, toString(type) AS k, day AS d, sum(events) AS n"
        " FROM daily_counts GROUP BY c, k, d",
    )
    store.sync_views()
    for version in MeterVersion.objects.select_related("meter"):
        if version.aggregation in (Aggregation.TIME_WEIGHTED_SUM, Aggregation.UNIQUE_COUNT):
            continue
        source = (
            f"(SELECT *, {schema.value_expr(version)} AS v FROM events AS e) AS e"
            f" WHERE {schema.filter_expr(version)} AND e.v IS NOT NULL"
        )
        yield from _compare(
            store,
            f"meter {version.meter.key} v{version.version}",
            "SELECT e.customer_id AS c, '' AS k, toDate(e.timestamp) AS d, count() AS n"
            f" FROM {source} GROUP BY c, k, d",
            "SELECT customer_id AS c, '' AS k, toDate(bucket) AS d, countMerge(event_count) AS n"
            f" FROM usage_rollup WHERE meter_version_id = {int(version.pk)} GROUP BY c, k, d",
        )
