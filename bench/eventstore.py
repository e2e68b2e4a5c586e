"""Benchmark: the columnar usage store (chdb, in-process ClickHouse) against PostgreSQL.

    bin/tally exec -- python bench/eventstore.py [--events 10000000] [--pg-events 2000000]
                                                 [--write-events 100000] [--samples 40]

On a fresh bench database ``tally_bench_eventstore`` (never the application database) and a
fresh chdb directory under ``.data/bench-chdb``:

1. Write path: ``event_store().insert_events`` for already-validated events in batches of
   1,000 (what the ingest API and the log sinks call), ``--write-events`` events into each
   store; events/s and CPU seconds per million events (this process, plus the PostgreSQL
   server processes for the PostgreSQL store; chdb runs inside this process).
2. Query path: ``--events`` events generated in the engine (``INSERT … SELECT … FROM
   numbers()``) into chdb, ``--pg-events`` with ``generate_series`` into PostgreSQL, spread
   over 1,000 customers and one month; then two meters are created (count; sum grouped by
   region), which backfills each store's rollups. Measured: ``usage_series`` for one
   customer-month with daily windows grouped by region, through the real selector, p50/p95
   over ``--samples`` random customers, warm.

Prints one JSON document; the figures go into docs/benchmarks.md by hand (with the load).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import dbs  # noqa: E402

DATABASE = "tally_bench_eventstore"
CUSTOMERS = 1000
START = datetime(2026, 10, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)


def _pg_cpu() -> float:
    """CPU seconds of this worktree's PostgreSQL server (postmaster and its backends), not the
    other servers sharing the machine."""
    data = str(ROOT / ".data")
    total = 0.0
    for proc in psutil.process_iter(["name", "cmdline"]):
        if (proc.info["name"] or "").startswith("postgres") and data in " ".join(
            proc.info["cmdline"] or []
        ):
            for member in [proc, *proc.children(recursive=True)]:
                try:
                    times = member.cpu_times()
                    total += times.user + times.system
                except psutil.Error:
                    continue
    return total


def _measure(fn: Any, server: bool) -> tuple[float, float]:
    cpu0, pg0, t0 = time.process_time(), _pg_cpu() if server else 0.0, time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0 + ((_pg_cpu() - pg0) if server else 0.0)
    return wall, cpu


def _valid_events(n: int, prefix: str) -> list[Any]:
    from metering.ingest.limits import ingest_limits
    from metering.ingest.wire import EventValidator

    now = datetime.now(UTC)
    validator = EventValidator(ingest_limits(), now, check_imprecise=True)
    rng = random.Random(7)
    return [
        validator.validate(
            i,
            {
                "id": f"{prefix}{i}",
                "customer": f"c{rng.randrange(CUSTOMERS)}",
                "type": "api_request",
                "timestamp": (now - timedelta(seconds=rng.randrange(86400))).isoformat(),
                "properties": {"n": rng.randrange(1000), "region": rng.choice(["eu", "us", "ap"])},
            },
        )
        for i in range(n)
    ]


def write_path(n: int, chdb_url: str) -> dict[str, Any]:
    from django.db import transaction
    from django.test import override_settings

    from metering.ingest.service import resolve_customers
    from metering.stores import event_store

    results: dict[str, Any] = {}
    for label, url in (("postgres", "postgres"), ("chdb", chdb_url)):
        events = _valid_events(n, f"w-{label}-")
        ids = resolve_customers(e.customer_ref for e in events)
        with override_settings(TALLY_EVENT_STORE=url):
            store = event_store()

            def run(store: Any = store, events: list[Any] = events, ids: dict = ids) -> None:
                for i in range(0, len(events), 1000):
                    with transaction.atomic():
                        store.insert_events(events[i : i + 1000], ids, datetime.now(UTC), "")

            wall, cpu = _measure(run, server=label == "postgres")
        results[label] = {
            "events": n,
            "events_per_s": round(n / wall),
            "cpu_s_per_million": round(cpu / n * 1e6, 1),
        }
    return results


def load(n_ch: int, n_pg: int, chdb_url: str) -> dict[str, Any]:
    from accounts.models import Customer
    from metering.stores.columnar.store import store_for

    pks = sorted(Customer.objects.values_list("pk", flat=True))
    lo, span = pks[0], int((END - START).total_seconds() * 1e6)
    store = store_for(chdb_url)
    t0 = time.perf_counter()
    for offset in range(0, n_ch, 1_000_000):
        size = min(1_000_000, n_ch - offset)
        store.engine.command(
            "INSERT INTO events SELECT '', concat('q', toString(number)), number + 10000000,"  # noqa: S608
            f" {lo} + number % {CUSTOMERS}, concat('c', toString(number % {CUSTOMERS})),"
            f" 'api_request', toDateTime64({START.timestamp()}, 6, 'UTC')"
            f" + toIntervalMicrosecond(cityHash64(number) % {span}), true,"
            ' concat(\'{"n": \', toString(number % 997), \', "region": "\','
            " ['eu', 'us', 'ap'][number % 3 + 1], '\"}'), '', now64(6), false, ''"
            f" FROM numbers({offset}, {size})"
        )
    ch_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    with dbs.connect(DATABASE) as conn:
        conn.execute(
            "INSERT INTO metering_usageevent (namespace, event_id, customer_id, customer_ref,"
            " type, timestamp, timestamp_given, properties, content_hash, received_at,"
            " attributed_at, is_late)"
            " SELECT '', 'q' || g, %s + g %% %s, 'c' || (g %% %s), 'api_request',"
            " %s::timestamptz + (hashint8(g)::numeric %% %s) * interval '1 microsecond', true,"
            " jsonb_build_object('n', g %% 997, 'region', (ARRAY['eu','us','ap'])[g %% 3 + 1]),"
            " '\\x00'::bytea, now(), now(), false FROM generate_series(1, %s) g",
            [lo, CUSTOMERS, CUSTOMERS, START, span, n_pg],
        )
    return {"chdb_load_s": round(ch_load, 1), "pg_load_s": round(time.perf_counter() - t0, 1)}


def query_path(samples: int, chdb_url: str) -> dict[str, Any]:
    from django.test import override_settings

    from accounts.models import Customer
    from metering.models import Meter
    from metering.selectors import usage_series

    meter = Meter.objects.get(key="bytes")
    rng = random.Random(11)
    customers = list(Customer.objects.order_by("pk"))
    results: dict[str, Any] = {}
    for label, url in (("postgres", "postgres"), ("chdb", chdb_url)):
        with override_settings(TALLY_EVENT_STORE=url):
            usage_series(customer=customers[0], meter=meter, start=START, end=END)  # warm
            times, cpu0 = [], time.process_time()
            for _ in range(samples):
                customer = rng.choice(customers)
                t0 = time.perf_counter()
                usage_series(customer=customer, meter=meter, start=START, end=END,
                             window="day", tz="UTC", group_by=["region"])  # fmt: skip
                times.append(time.perf_counter() - t0)
            times.sort()
        results[label] = {
            "p50_ms": round(statistics.median(times) * 1000, 1),
            "p95_ms": round(times[int(len(times) * 0.95) - 1] * 1000, 1),
            "client_cpu_ms_per_query": round((time.process_time() - cpu0) / samples * 1000, 1),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--pg-events", type=int, default=2_000_000)
    parser.add_argument("--write-events", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument(
        "--reuse", action="store_true", help="only the query path, on the last run's data"
    )
    args = parser.parse_args()
    path = ROOT / ".data" / "bench-chdb"
    if args.reuse:
        dbs.django_setup(DATABASE)
        report = {"load_average": os.getloadavg(), "cpus": os.cpu_count(), "reused": True}
        report["query"] = query_path(args.samples, f"chdb:{path}")
        report["load_average_after"] = os.getloadavg()
        print(json.dumps(report, indent=2))
        return
    dbs.recreate(DATABASE)
    dbs.migrate(DATABASE)
    dbs.django_setup(DATABASE)
    shutil.rmtree(path, ignore_errors=True)
    chdb_url = f"chdb:{path}"
    from accounts.models import Customer
    from metering.services import meter_create

    Customer.objects.bulk_create(
        Customer(external_id=f"c{i}", name=f"c{i}", email=f"c{i}@example.com")
        for i in range(CUSTOMERS)
    )
    report: dict[str, Any] = {"load_average": os.getloadavg(), "cpus": os.cpu_count()}
    report["write"] = write_path(args.write_events, chdb_url)
    report["load"] = load(args.events, args.pg_events, chdb_url)
    t0 = time.perf_counter()
    meter_create(key="calls", name="calls", event_type="api_request", aggregation="count")
    meter_create(key="bytes", name="bytes", event_type="api_request", aggregation="sum",
                 value_property="n", group_by=["region"])  # fmt: skip
    report["load"]["pg_meter_backfill_s"] = round(time.perf_counter() - t0, 1)
    from django.test import override_settings

    from metering.stores import event_store

    with override_settings(TALLY_EVENT_STORE=chdb_url):
        t0 = time.perf_counter()
        event_store().sync_views()  # type: ignore[attr-defined]
        report["load"]["chdb_rollup_backfill_s"] = round(time.perf_counter() - t0, 1)
    report["query"] = query_path(args.samples, chdb_url)
    report["query"]["chdb_events"], report["query"]["pg_events"] = args.events, args.pg_events
    report["load_average_after"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
