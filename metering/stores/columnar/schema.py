"""The columnar store's tables, and each meter version's rollup view, in ClickHouse SQL.

Every table written by an insert into ``events`` (directly or through a view) keeps a
deduplication window: without it a re-delivered batch would be dropped from ``events`` yet
counted again in the rollups (a test proves it).

- ``events``: raw attributed events, MergeTree ordered by (customer, type, time, row id),
  partitioned by month; ``non_replicated_deduplication_window`` makes an insert that repeats
  an ``insert_deduplication_token`` a no-op (a batch re-delivered after a crash).
- ``event_keys``: (namespace, event id) -> row id and content hash, filled by a materialized
  view from ``events`` (same insert, same token), ordered for the writer's id look-ups.
- ``daily_counts``: events per (customer, type, UTC day), SummingMergeTree, for the invariant
  check (raw events and the engine's rollups must agree).
- ``usage_rollup`` (AggregatingMergeTree) and ``unique_values``: per meter version, customer,
  15-minute bucket and group values, the same grain as PostgreSQL's ``HourlyRollup`` and
  ``UniqueValue``. One materialized view per meter version (``mv_rollup_<id>``) applies the
  version's filter, value and group expressions, translated from ``metering.meter_sql``.

Meter expressions are built from operator-defined meter versions with every string quoted by
``literal`` (ClickHouse escaping), because DDL cannot take bound parameters.
"""

from __future__ import annotations

import json
from typing import Any

from metering.meter_sql import path
from metering.models import Aggregation, MeterVersion

TS = "DateTime64(6, 'UTC')"
NUM = "Decimal128(12)"
NUMBER_TYPES = "('Int64', 'UInt64', 'Double')"
# metering_to_numeric's pattern for numeric strings (migration 0001), as a ClickHouse literal.
NUMERIC_TEXT = r"'^\\s*[-+]?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]{1,3})?\\s*$'"

TABLES = [
    f"""CREATE TABLE IF NOT EXISTS events (
        namespace String, event_id String, row_id UInt64, customer_id UInt64,
        customer_ref String, type LowCardinality(String), timestamp {TS},
        timestamp_given Bool, properties String, content_hash String, received_at {TS},
        is_late Bool, batch_token String DEFAULT ''
    ) ENGINE = MergeTree PARTITION BY toYYYYMM(timestamp)
    ORDER BY (customer_id, type, timestamp, row_id)
    SETTINGS non_replicated_deduplication_window = 100000""",
    # stores created before the column: the batch that wrote an event (see store._reclaim)
    "ALTER TABLE events ADD COLUMN IF NOT EXISTS batch_token String DEFAULT ''",
    # the event status API looks one id up without its customer (the order key): a skip
    # index instead of a scan (parts written before it need MATERIALIZE INDEX to use it)
    "ALTER TABLE events ADD INDEX IF NOT EXISTS event_id_bloom event_id"
    " TYPE bloom_filter GRANULARITY 4",
    """CREATE TABLE IF NOT EXISTS event_keys (
        namespace String, event_id String, row_id UInt64, content_hash String
    ) ENGINE = MergeTree ORDER BY (namespace, event_id)
    SETTINGS non_replicated_deduplication_window = 100000""",
    """CREATE MATERIALIZED VIEW IF NOT EXISTS mv_event_keys TO event_keys AS
    SELECT namespace, event_id, row_id, content_hash FROM events""",
    """CREATE TABLE IF NOT EXISTS daily_counts (
        customer_id UInt64, type LowCardinality(String), day Date, events UInt64
    ) ENGINE = SummingMergeTree ORDER BY (customer_id, type, day)
    SETTINGS non_replicated_deduplication_window = 100000""",
    """CREATE MATERIALIZED VIEW IF NOT EXISTS mv_daily_counts TO daily_counts AS
    SELECT customer_id, type, toDate(timestamp) AS day, count() AS events FROM events
    GROUP BY customer_id, type, day""",
    f"""CREATE TABLE IF NOT EXISTS usage_rollup (
        customer_id UInt64, meter_version_id UInt64, bucket DateTime('UTC'),
        group_values String,
        value_sum AggregateFunction(sum, {NUM}),
        event_count AggregateFunction(count),
        value_max AggregateFunction(max, {NUM}),
        latest_value AggregateFunction(argMax, {NUM}, Tuple({TS}, UInt64)),
        latest_key AggregateFunction(max, Tuple({TS}, UInt64))
    ) ENGINE = AggregatingMergeTree
    ORDER BY (customer_id, meter_version_id, bucket, group_values)
    SETTINGS non_replicated_deduplication_window = 100000""",
    """CREATE TABLE IF NOT EXISTS unique_values (
        customer_id UInt64, meter_version_id UInt64, bucket DateTime('UTC'),
        group_values String, value String
    ) ENGINE = ReplacingMergeTree
    ORDER BY (customer_id, meter_version_id, bucket, group_values, value)
    SETTINGS non_replicated_deduplication_window = 100000""",
    "CREATE TABLE IF NOT EXISTS rollup_views (version_id UInt64)"
    " ENGINE = MergeTree ORDER BY version_id",
]


def literal(text: str) -> str:
    """A ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _keys(dotted: str) -> str:
    return ", ".join(literal(k) for k in path(dotted))


def _json(fn: str, dotted: str, column: str = "e.properties") -> str:
    return f"{fn}({column}, {_keys(dotted)})"


def _equals(dotted: str, wanted: Any) -> str:
    """JSON equality as PostgreSQL's jsonb ``=`` decides it, for scalar values."""
    kind = _json("JSONType", dotted)
    if wanted is None:
        return f"{kind} = 'Null'"
    if isinstance(wanted, bool):
        return f"({kind} = 'Bool' AND {_json('JSONExtractBool', dotted)} = {int(wanted)})"
    if isinstance(wanted, (int, float)):
        raw = _json("JSONExtractRaw", dotted)
        return (
            f"({kind} IN {NUMBER_TYPES} AND toDecimal128OrNull({raw}, 12)"
            f" = toDecimal128({literal(str(wanted))}, 12))"
        )
    if isinstance(wanted, str):
        return f"({kind} = 'String' AND {_json('JSONExtractString', dotted)} = {literal(wanted)})"
    # Arrays and objects: compared as compact JSON text (documented limit: key order counts).
    return (
        f"{_json('JSONExtractRaw', dotted)} = {literal(json.dumps(wanted, separators=(',', ':')))}"
    )


def value_expr(version: MeterVersion) -> str:
    """The event's value for this version (NULL when the meter ignores the event)."""
    if version.aggregation == Aggregation.COUNT:
        return "toDecimal128(1, 12)"
    dotted = version.value_property
    kind = _json("JSONType", dotted)
    if version.aggregation == Aggregation.UNIQUE_COUNT:
        return (
            f"multiIf({kind} = 'String', {_json('JSONExtractString', dotted)},"
            f" {kind} IN ('Null', 'None'), NULL, {_json('JSONExtractRaw', dotted)})"
        )
    text, raw = _json("JSONExtractString", dotted), _json("JSONExtractRaw", dotted)
    return (
        f"multiIf({kind} IN {NUMBER_TYPES}, toDecimal128OrNull({raw}, 12),"
        f" {kind} = 'String' AND match({text}, {NUMERIC_TEXT}),"
        f" toDecimal128OrNull(trimBoth({text}), 12), NULL)"
    )


def filter_expr(version: MeterVersion) -> str:
    """``type = … AND <property filters>`` (the value check is separate: ``value_expr``)."""
    clauses = [f"e.type = {literal(version.event_type)}"]
    for rule in version.filters or []:
        dotted = rule["property"]
        if "equals" in rule:
            clauses.append(_equals(dotted, rule["equals"]))
        elif "in" in rule:
            clauses.append("(" + " OR ".join(_equals(dotted, v) for v in rule["in"]) + ")")
        elif rule.get("exists", True):
            clauses.append(_json("JSONHas", dotted))
        else:
            clauses.append(f"NOT {_json('JSONHas', dotted)}")
    return " AND ".join(clauses)


def group_expr(version: MeterVersion, dims: list[str] | None = None) -> str:
    """The group values as a JSON array text: the version's own ``group_by`` (``dims`` None),
    or the requested dims read from the event (null where the version lacks one)."""
    own = version.group_by or []
    wanted = own if dims is None else dims
    if not wanted:
        return "'[]'"
    parts = [
        f"if({_json('JSONHas', d)}, {_json('JSONExtractRaw', d)}, 'null')" if d in own else "'null'"
        for d in wanted
    ]
    return f"concat('[', arrayStringConcat([{', '.join(parts)}], ','), ']')"


def project_expr(version: MeterVersion, dims: list[str], column: str = "r.group_values") -> str:
    """A stored group array re-shaped to the requested ``dims``."""
    if not dims:
        return "'[]'"
    own = list(version.group_by or [])
    parts = [
        f"if(JSONType({column}, {own.index(d) + 1}) = 'Null', 'null',"
        f" JSONExtractRaw({column}, {own.index(d) + 1}))"
        if d in own
        else "'null'"
        for d in dims
    ]
    return f"concat('[', arrayStringConcat([{', '.join(parts)}], ','), ']')"


def view_name(version: MeterVersion) -> str:
    return f"mv_rollup_{int(version.pk)}"


def view_select(version: MeterVersion) -> str:
    """The SELECT that turns events into this version's rollup rows (the view's body, and the
    backfill of events stored before the view existed)."""
    value, where, group = value_expr(version), filter_expr(version), group_expr(version)
    head = (
        f"e.customer_id AS customer_id, toUInt64({int(version.pk)}) AS meter_version_id,"
        f" toStartOfFifteenMinutes(e.timestamp) AS bucket, {group} AS group_values"
    )
    source = f"(SELECT *, {value} AS v FROM events AS e) AS e WHERE {where} AND e.v IS NOT NULL"
    if version.aggregation == Aggregation.UNIQUE_COUNT:
        return f"SELECT {head}, assumeNotNull(e.v) AS value FROM {source}"
    return (
        f"SELECT {head}, sumState(assumeNotNull(e.v)) AS value_sum, countState() AS event_count,"
        " maxState(assumeNotNull(e.v)) AS value_max,"
        " argMaxState(assumeNotNull(e.v), (e.timestamp, e.row_id)) AS latest_value,"
        " maxState((e.timestamp, e.row_id)) AS latest_key"
        f" FROM {source} GROUP BY customer_id, meter_version_id, bucket, group_values"
    )


def view_target(version: MeterVersion) -> str:
    return "unique_values" if version.aggregation == Aggregation.UNIQUE_COUNT else "usage_rollup"
