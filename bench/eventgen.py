"""Deterministic usage events generated inside each engine, the same rows in both.

Event ``n`` (0-based) of a data set is a pure function of ``n``, written once in ClickHouse SQL
(``INSERT INTO events SELECT … FROM numbers_mt(lo, size)``) and once in PostgreSQL SQL
(``INSERT INTO metering_usageevent SELECT … FROM generate_series(lo, hi)``). Only integer
arithmetic (multiplicative hashes modulo 2^32, integer division) is used, so both engines give
bit-identical rows; ``tests/eventstore/test_generated.py`` checks it, and that both stores then
answer the usage selectors alike.

Shape (``customers`` = N):

- customer ``c = floor(h1² · N / 2^32)`` with ``h1`` a 16-bit hash of ``n``: a heavy tail, the
  customer at quantile q holds about ``1 / (2·sqrt(q))`` times the mean; customer 0 about 1 %
  of all events, the smallest ones about half the mean. Customer pks are ``first_pk + c``
  (customers created in one ``bulk_create`` on a fresh database, so contiguous).
- type ``api_request``; timestamp uniform over ``[start, start + span_days)``, microseconds
  from ``n``; properties ``{"bytes": 0..99999, "latency_ms": 0..4999, "region": one of 4}``
  in the ingest path's canonical JSON (sorted keys, compact), a 16-byte content hash (MD5 of
  the id: the size of the ingest path's BLAKE2b-128, not its value).
- event id ``g<n>``, row id ``n + 1`` (the columnar store's counter continues after it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

START = datetime(2026, 8, 1, tzinfo=UTC)
SPAN_DAYS = 92  # August, September, October 2026
REGIONS = ("eu", "us", "ap", "sa")
M32 = 4294967296
K_CUSTOMER, K_TIME, K_BYTES, K_LATENCY, K_REGION = (
    2654435761, 2246822519, 3266489917, 668265263, 374761393,
)  # fmt: skip

METERS: list[dict[str, Any]] = [
    {"key": "calls", "name": "API calls", "event_type": "api_request", "aggregation": "count"},
    {"key": "bytes", "name": "Bytes by region", "event_type": "api_request",
     "aggregation": "sum", "value_property": "bytes", "group_by": ["region"]},
    {"key": "peak_latency", "name": "Peak latency", "event_type": "api_request",
     "aggregation": "max", "value_property": "latency_ms"},
]  # fmt: skip


def _h(k: int, n: str = "n") -> str:
    """``(n · k) mod 2^32``: the same integer in both engines for n < 2^32."""
    return f"(({n} * {k}) % {M32})"


def _customer(customers: int, n: str, div: str) -> str:
    """``div``: integer division (ClickHouse ``DIV``; PostgreSQL's bigint ``/`` truncates)."""
    h1 = f"({_h(K_CUSTOMER, n)} {div} 65536)"
    return f"(({h1} * {h1} * {customers}) {div} {M32})"


def chdb_insert(lo: int, size: int, customers: int, first_pk: int) -> str:
    """One ClickHouse statement inserting events ``lo .. lo + size - 1`` into ``events``
    (the store's materialized views fill the rollups from the same insert)."""
    span_s = SPAN_DAYS * 86400
    c = _customer(customers, "number", "DIV")
    seconds = f"({_h(K_TIME, 'number')} % {span_s})"
    regions = "[" + ", ".join(f"'{r}'" for r in REGIONS) + "]"
    props = (
        "concat('{\"bytes\":', toString(" + _h(K_BYTES, "number") + " % 100000),"
        " ',\"latency_ms\":', toString(" + _h(K_LATENCY, "number") + " % 5000),"
        ' \',"region":"\', ' + regions + "[" + _h(K_REGION, "number") + f" % {len(REGIONS)} + 1],"
        " '\"}')"
    )
    return (
        "INSERT INTO events (namespace, event_id, row_id, customer_id, customer_ref, type,"  # noqa: S608 (integers only)
        " timestamp, timestamp_given, properties, content_hash, received_at, is_late,"
        " batch_token)"
        f" SELECT '', concat('g', toString(number)), number + 1, {first_pk} + {c},"
        f" concat('c', toString({c})), 'api_request',"
        f" toDateTime64({int(START.timestamp())}, 6, 'UTC')"
        f" + toIntervalMicrosecond({seconds} * 1000000 + number % 1000000), true, {props},"
        " lower(hex(MD5(concat('g', toString(number))))), now64(6), false, ''"
        f" FROM numbers_mt({lo}, {size})"
    )


def pg_insert(lo: int, size: int, customers: int, first_pk: int) -> str:
    """The same events ``lo .. lo + size - 1`` into PostgreSQL's ``metering_usageevent``
    (bigint division truncates, as ClickHouse's ``DIV``)."""
    span_s = SPAN_DAYS * 86400
    c = _customer(customers, "n", "/")
    seconds = f"({_h(K_TIME)} % {span_s})"
    regions = "ARRAY[" + ", ".join(f"'{r}'" for r in REGIONS) + "]"
    props = (
        "('{\"bytes\":' || "
        + _h(K_BYTES)
        + " % 100000 || ',\"latency_ms\":' || "
        + _h(K_LATENCY)
        + ' % 5000 || \',"region":"\' || ('
        + regions
        + ")["
        + _h(K_REGION)
        + f" % {len(REGIONS)} + 1] || '\"}}')::jsonb"
    )
    return (
        "INSERT INTO metering_usageevent (namespace, event_id, customer_id, customer_ref, type,"  # noqa: S608
        " timestamp, timestamp_given, properties, content_hash, received_at, attributed_at,"
        " is_late)"
        f" SELECT '', 'g' || n, {first_pk} + {c}, 'c' || {c}, 'api_request',"
        f" timestamptz '{START.isoformat()}' + {seconds} * interval '1 second'"
        " + (n % 1000000) * interval '1 microsecond', true,"
        f" {props}, decode(md5('g' || n), 'hex'), now(), now(), false"
        f" FROM generate_series({lo}::bigint, {lo + size - 1}::bigint) AS n"
    )
