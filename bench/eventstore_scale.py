"""Benchmark: the customer-month usage query over 100,000,000 events in the columnar store
(chdb, in-process ClickHouse) and over a PostgreSQL store of the same shape (issue 16).

    bin/tally exec -- python -m bench.eventstore_scale setup [--customers 10000]
    bin/tally exec -- python -m bench.eventstore_scale chdb --events 100000000 [--chunk 10000000]
    bin/tally exec -- python -m bench.eventstore_scale pg --events 10000000 --customers 1000
    bin/tally exec -- python -m bench.eventstore_scale query --store chdb [--samples 200]
    bin/tally exec -- python -m bench.eventstore_scale query --store pg --customers 1000

Data: ``bench.eventgen`` (deterministic rows generated inside each engine; heavy-tailed
customers, three months, four regions, three meters). Bench database ``tally_bench_scale``
(customers, meters, and PostgreSQL's events), chdb directory ``.data/bench-chdb-scale``.

- ``setup``: fresh database, customers (contiguous pks), the month partitions the data spans,
  the meters (``bench.eventgen.METERS``); removes the chdb directory.
- ``chdb``: opens the store, creates each meter version's rollup view on the empty ``events``
  table (``sync_views``), then inserts the events chunk by chunk with ``INSERT INTO events
  SELECT … FROM numbers()``: every chunk passes through the store's materialized views
  (``event_keys``, ``daily_counts``, one rollup view per version) exactly as an ingest
  insert does. Resumable: completed chunks are recorded in the store (``bench_chunks``).
- ``pg``: the same generator into ``metering_usageevent``, then each version's rollups are
  filled by the rollup code's backfill (``apply_span``, what ``meter_create`` runs).
- ``query``: ``usage_series`` (what usage pages and the usage API call) and
  ``usage_for_period`` (what invoice lines call) for one customer-month (October 2026),
  for ``--samples`` random customers: first a cold pass (fresh process; the OS page cache
  dropped first with ``--drop-caches`` when the kernel allows it), then the same customers
  warm. p50/p95/p99 and CPU per query: this process (chdb runs inside it) plus, for
  PostgreSQL, its server processes.

Each chunk or step takes ``/tmp/bench.lock`` exclusively while it runs (``--lock``), so one
long build never holds the machine's benchmark lock for more than one chunk. Progress goes to
stderr; ``query`` prints one JSON document.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import random
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import eventgen  # noqa: E402
from bench.eventstore import _pg_cpu  # noqa: E402
from bench.ingest import dbs  # noqa: E402

DATABASE = "tally_bench_scale"
CHDB_PATH = ROOT / ".data" / "bench-chdb-scale"
MONTH = (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
LOCK = "/tmp/bench.lock"


def log(message: str) -> None:
    sys.stderr.write(f"[{datetime.now(UTC):%H:%M:%S}] {message}\n")
    sys.stderr.flush()


@contextmanager
def bench_lock(path: str) -> Iterator[None]:
    """The machine's benchmark lock, held for one step (empty ``path``: no lock)."""
    if not path:
        yield
        return
    with open(path, "a") as handle:
        waited = time.perf_counter()
        fcntl.flock(handle, fcntl.LOCK_EX)
        if time.perf_counter() - waited > 1:
            log(f"waited {time.perf_counter() - waited:.0f} s for {path}")
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _first_pk() -> int:
    from accounts.models import Customer

    pks = list(Customer.objects.order_by("pk").values_list("pk", flat=True))
    if pks[-1] - pks[0] + 1 != len(pks):
        raise SystemExit("customer pks are not contiguous: run setup again")
    return pks[0]


def setup(customers: int) -> None:
    dbs.recreate(DATABASE)
    dbs.migrate(DATABASE)
    dbs.django_setup(DATABASE)
    from accounts.models import Customer
    from metering.partitions import ensure_partitions
    from metering.services import meter_create

    Customer.objects.bulk_create(
        Customer(external_id=f"c{i}", name=f"Customer {i}", email=f"c{i}@example.com")
        for i in range(customers)
    )
    _first_pk()
    ensure_partitions(ahead=3, now=eventgen.START)  # August .. November 2026
    for spec in eventgen.METERS:
        meter_create(**spec)
    shutil.rmtree(CHDB_PATH, ignore_errors=True)
    log(f"setup: {customers:,} customers, {len(eventgen.METERS)} meters, load {_load()}")


def _chdb_store() -> Any:
    from metering.stores.columnar.store import store_for

    return store_for(f"chdb:{CHDB_PATH}")


def build_chdb(events: int, chunk: int, customers: int, lock: str) -> None:
    dbs.django_setup(DATABASE)
    first = _first_pk()
    store = _chdb_store()
    store.sync_views()  # one materialized view per meter version, on the (empty) events table
    store.engine.command(
        "CREATE TABLE IF NOT EXISTS bench_chunks (lo UInt64, size UInt64, seconds Float64,"
        " cpu Float64) ENGINE = MergeTree ORDER BY lo"
    )
    done = {int(lo): int(size) for lo, size in store.query("SELECT lo, size FROM bench_chunks")}
    stored = int(store.query("SELECT count() FROM events")[0][0])
    if stored != sum(done.values()):
        raise SystemExit(f"{stored:,} events but {sum(done.values()):,} recorded: run setup")
    started = time.perf_counter()
    for lo in range(0, events, chunk):
        if lo in done:
            continue
        size = min(chunk, events - lo)
        with bench_lock(lock):
            load = _load()
            t0, cpu0 = time.perf_counter(), time.process_time()
            store.engine.command(
                eventgen.chdb_insert(lo, size, customers, first)
                # both cores: two insert streams, each through the views
                + " SETTINGS max_insert_threads = 2, parallel_view_processing = 1"
            )
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        store.engine.command(
            "INSERT INTO bench_chunks SETTINGS insert_deduplicate = 0 VALUES"
            " ({lo:UInt64}, {size:UInt64}, {s:Float64}, {cpu:Float64})",
            {"lo": lo, "size": size, "s": wall, "cpu": cpu},
        )
        parts = store.query(
            "SELECT table, count() FROM system.parts WHERE active AND database ="
            " currentDatabase() AND table IN ('events', 'usage_rollup') GROUP BY table"
            " ORDER BY table"
        )
        log(
            f"chdb: {lo + size:,} / {events:,} events; chunk {size:,} in {wall:.1f} s"
            f" ({size / wall:,.0f} events/s, {cpu / size * 1e6:.1f} CPU s per million);"
            f" active parts {dict(parts)}; load {load} -> {_load()};"
            f" {time.perf_counter() - started:.0f} s this run"
        )
    describe_chdb(store)


def describe_chdb(store: Any) -> None:
    totals = store.query("SELECT count(), sum(size), sum(seconds), sum(cpu) FROM bench_chunks")[0]
    log(f"chdb chunks: {totals[0]} chunks, {int(totals[1] or 0):,} events,"
        f" {float(totals[2] or 0):.0f} s, {float(totals[3] or 0):.0f} CPU s")  # fmt: skip
    for table, rows, parts, disk in store.query(
        "SELECT table, sum(rows), count(), formatReadableSize(sum(bytes_on_disk))"
        " FROM system.parts WHERE active AND database = currentDatabase()"
        " GROUP BY table ORDER BY table"
    ):
        log(f"  {table}: {int(rows):,} rows in {int(parts)} active parts, {disk}")
    (counted,) = store.query("SELECT sum(events) FROM daily_counts")[0]
    (merges,) = store.query("SELECT count() FROM system.merges")[0]
    log(f"  daily_counts total {int(counted or 0):,}; merges running: {merges}")


def build_pg(events: int, chunk: int, customers: int, lock: str) -> None:
    dbs.django_setup(DATABASE)
    first = _first_pk()
    from django.db import connection

    from metering.meter_sql import spans_for
    from metering.models import MeterVersion
    from metering.services.rollups import apply_span

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM metering_usageevent")
        if cursor.fetchone()[0]:
            raise SystemExit("metering_usageevent is not empty: run setup")
    started = time.perf_counter()
    with dbs.connect(DATABASE) as conn:
        for lo in range(0, events, chunk):
            size = min(chunk, events - lo)
            with bench_lock(lock):
                load, t0, pg0 = _load(), time.perf_counter(), _pg_cpu()
                conn.execute(eventgen.pg_insert(lo, size, customers, first).encode())
                wall, cpu = time.perf_counter() - t0, _pg_cpu() - pg0
            log(f"pg: {lo + size:,} / {events:,} events; chunk in {wall:.1f} s"
                f" ({size / wall:,.0f} events/s, server {cpu / size * 1e6:.1f} CPU s per"
                f" million); load {load} -> {_load()}")  # fmt: skip
        with bench_lock(lock):
            conn.execute("ANALYZE metering_usageevent")
    log(f"pg: events in {time.perf_counter() - started:.0f} s")
    versions = list(MeterVersion.objects.order_by("pk"))
    for version in versions:
        span = next(
            s
            for s in spans_for([v for v in versions if v.meter_id == version.meter_id])
            if s.version.pk == version.pk
        )
        with bench_lock(lock), connection.cursor() as cursor:
            load, t0, pg0 = _load(), time.perf_counter(), _pg_cpu()
            cursor.execute("SET work_mem = '256MB'")
            apply_span(cursor, span, source="backfill")
            wall, cpu = time.perf_counter() - t0, _pg_cpu() - pg0
        log(f"pg: rollups of {version.meter.key} in {wall:.0f} s ({cpu:.0f} server CPU s);"
            f" load {load} -> {_load()}")  # fmt: skip
    with bench_lock(lock), connection.cursor() as cursor:
        cursor.execute("ANALYZE metering_hourlyrollup")
        cursor.execute(
            "SELECT (SELECT pg_size_pretty(sum(pg_total_relation_size(relid)))"
            " FROM pg_partition_tree('metering_usageevent')),"  # partitioned: sum the months
            " pg_size_pretty(pg_total_relation_size('metering_hourlyrollup')),"
            " (SELECT count(*) FROM metering_hourlyrollup)"
        )
        log("pg: events {}, rollups {} ({:,} rows)".format(*cursor.fetchone()))


def _drop_caches() -> bool:
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
    except OSError as exc:
        log(f"could not drop the page cache ({exc}): cold = fresh process only")
        return False
    return True


def _percentiles(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {"p50_ms": round(statistics.median(ordered) * 1000, 1), "p95_ms": at(0.95),
            "p99_ms": at(0.99), "max_ms": round(ordered[-1] * 1000, 1)}  # fmt: skip


def _pass(reads: Callable[[Any], Any], customers: list[Any], server: bool) -> dict[str, Any]:
    times: list[float] = []
    cpu0, pg0 = time.process_time(), _pg_cpu() if server else 0.0
    for customer in customers:
        t0 = time.perf_counter()
        reads(customer)
        times.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu0
    result = _percentiles(times)
    result["cpu_ms_per_query"] = round(cpu / len(customers) * 1000, 1)
    if server:
        result["server_cpu_ms_per_query"] = round((_pg_cpu() - pg0) / len(customers) * 1000, 1)
    return result


def query(store: str, samples: int, customers: int, drop: bool, lock: str) -> None:
    dbs.django_setup(DATABASE)
    from django.test import override_settings

    from accounts.models import Customer
    from metering.models import Meter
    from metering.selectors import usage_for_period, usage_series

    first = _first_pk()
    bytes_meter, calls = Meter.objects.get(key="bytes"), Meter.objects.get(key="calls")
    pool = list(Customer.objects.filter(pk__lt=first + customers).order_by("pk"))
    sample = random.Random(16).sample(pool, samples + 1)
    start, end = MONTH
    url = f"chdb:{CHDB_PATH}" if store == "chdb" else "postgres"
    server = store == "pg"

    def page(customer: Any) -> Any:
        return usage_series(customer=customer, meter=bytes_meter, start=start, end=end,
                            window="day", tz="UTC", group_by=["region"])  # fmt: skip

    def invoice(customer: Any) -> Any:
        return usage_for_period(customer=customer, meter=calls, start=start, end=end)

    report: dict[str, Any] = {"store": store, "month": start.strftime("%Y-%m"),
                              "customers_in_pool": len(pool), "samples": samples,
                              "cpus": os.cpu_count()}  # fmt: skip
    with bench_lock(lock), override_settings(TALLY_EVENT_STORE=url):
        report["load_average_before"] = _load()
        report["page_cache_dropped"] = _drop_caches() if drop else False
        t0 = time.perf_counter()
        if store == "chdb":
            describe = _chdb_store()  # opening the engine (a fresh process: its caches empty)
            report["chdb_open_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            report["chdb_parts"] = {
                t: int(n)
                for t, n in describe.query(
                    "SELECT table, count() FROM system.parts WHERE active AND database ="
                    " currentDatabase() GROUP BY table"
                )
            }
        report["cold_first_query_ms"] = round(_timed(lambda: page(sample[0])) * 1000, 1)
        report["page_day_by_region"] = {
            "cold": _pass(page, sample[1:], server),
            "warm": _pass(page, sample[1:], server),
        }
        report["invoice_month_total"] = {"warm": _pass(invoice, sample[1:], server)}
        heaviest = pool[0]  # customer 0 holds ~1 % of all events (bench.eventgen)
        series = page(heaviest)
        report["heaviest_customer"] = {
            "month_events": int(invoice(heaviest).total),
            "page": _pass(page, [heaviest] * 20, server),
            "bytes_total": str(series.total),
        }
        report["sample_month_events"] = _percentile_events(invoice, sample[1:])
        report["load_average_after"] = _load()
    print(json.dumps(report, indent=2))


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _percentile_events(invoice: Callable[[Any], Any], customers: list[Any]) -> dict[str, int]:
    counts = sorted(int(invoice(c).total) for c in customers)
    return {"min": counts[0], "p50": counts[len(counts) // 2],
            "p95": counts[int(len(counts) * 0.95)], "max": counts[-1]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=["setup", "chdb", "pg", "query", "describe"])
    parser.add_argument("--events", type=int, default=100_000_000)
    parser.add_argument("--chunk", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--store", choices=["chdb", "pg"], default="chdb")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--drop-caches", action="store_true")
    parser.add_argument("--lock", default=LOCK, help="benchmark lock per step ('' for none)")
    args = parser.parse_args()
    if args.step == "setup":
        setup(args.customers)
    elif args.step == "chdb":
        build_chdb(args.events, args.chunk, args.customers, args.lock)
    elif args.step == "pg":
        build_pg(args.events, args.chunk, args.customers, args.lock)
    elif args.step == "describe":
        dbs.django_setup(DATABASE)
        describe_chdb(_chdb_store())
    else:
        query(args.store, args.samples, args.customers, args.drop_caches, args.lock)


if __name__ == "__main__":
    main()
