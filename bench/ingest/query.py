"""Usage-query latency over a large events table (default 10 million rows).

Run as its own process (Django bound to the query database):
    python -m bench.ingest.query --events 10000000 [--rebuild]
Prints one JSON document with the dataset description and latency percentiles.

The dataset is generated in SQL (generate_series) straight into metering_usageevent, then the
meters are created, which backfills their rollups from the stored events through the same code
path as any new meter. It is kept between runs (rebuilt when the row count differs).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

from bench.ingest import dbs

DATABASE = "tally_bench_query"
CUSTOMERS = 500
ZONES = ("UTC", "America/New_York", "Asia/Kolkata")
METERS = [
    {"key": "requests", "name": "Requests", "event_type": "api_request", "aggregation": "count"},
    {
        "key": "bytes",
        "name": "Bytes by region",
        "event_type": "api_request",
        "aggregation": "sum",
        "value_property": "bytes",
        "group_by": ["region"],
    },
    {
        "key": "users",
        "name": "Active users",
        "event_type": "api_request",
        "aggregation": "unique_count",
        "value_property": "user",
    },
]
CHUNK = 1_000_000


def log(message: str) -> None:
    sys.stderr.write(f"[query-bench] {message}\n")
    sys.stderr.flush()


def _generate(total: int, end: datetime) -> float:
    started = time.monotonic()
    span_seconds = 30 * 86400
    with dbs.connect(DATABASE) as conn:
        first_id = conn.execute("SELECT min(id) FROM accounts_customer").fetchone()[0]
        for lo in range(0, total, CHUNK):
            hi = min(total, lo + CHUNK)
            conn.execute(
                """
                INSERT INTO metering_usageevent (namespace, event_id, customer_id, customer_ref,
                    type, timestamp, timestamp_given, properties, content_hash, received_at,
                    attributed_at, is_late)
                SELECT 'bench', 'q' || g, %(first)s + (g %% %(n)s), 'c' || (g %% %(n)s),
                    'api_request',
                    %(end)s - make_interval(secs => ((g * 7919) %% %(span)s)::double precision
                                                    + (g %% 1000) / 1000.0),
                    true,
                    jsonb_build_object('bytes', g %% 100000,
                                       'region', (ARRAY['eu','us','ap'])[1 + g %% 3],
                                       'user', 'u' || ((g / %(n)s) %% 10)),
                    decode(md5(g::text), 'hex'), %(end)s, %(end)s, false
                FROM generate_series(%(lo)s::bigint, %(hi)s::bigint - 1) AS g
                """,
                {
                    "first": first_id,
                    "n": CUSTOMERS,
                    "end": end,
                    "span": span_seconds,
                    "lo": lo,
                    "hi": hi,
                },
            )
            log(f"{hi:,} events ({time.monotonic() - started:.0f} s)")
        conn.execute("ANALYZE metering_usageevent")
    return time.monotonic() - started


def build(total: int) -> dict[str, object]:
    dbs.recreate(DATABASE)
    dbs.migrate(DATABASE)
    dbs.django_setup(DATABASE)
    from accounts.models import Customer
    from metering.services import meter_create

    Customer.objects.bulk_create(
        Customer(external_id=f"c{i}", name=f"Customer {i}", timezone=ZONES[i % len(ZONES)])
        for i in range(CUSTOMERS)
    )
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    from metering.partitions import ensure_partitions

    ensure_partitions(ahead=2, now=end - timedelta(days=31))  # the months the data spans
    generate_s = _generate(total, end)
    started = time.monotonic()
    from django.db import connection

    with connection.cursor() as cursor:  # one big aggregation per meter: give it memory
        cursor.execute("SET work_mem = '256MB'")
    for spec in METERS:
        meter_create(**spec)
        log(f"meter {spec['key']} backfilled ({time.monotonic() - started:.0f} s)")
    built = {
        "generate_s": generate_s,
        "backfill_s": time.monotonic() - started,
        "bucket_minutes": 15,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with dbs.connect(DATABASE) as conn:
        conn.execute("CREATE TABLE bench_dataset_info (info jsonb)")
        conn.execute("INSERT INTO bench_dataset_info VALUES (%s::jsonb)", [json.dumps(built)])
        conn.execute("ANALYZE")
    return built


def _current_layout() -> bool:
    with dbs.connect(DATABASE) as conn:
        exists = conn.execute("SELECT to_regclass('bench_dataset_info')").fetchone()[0]
        if not exists:
            return False
        info = conn.execute("SELECT info FROM bench_dataset_info").fetchone()
    return bool(info and info[0].get("bucket_minutes") == 15)


def measure(samples: int) -> dict[str, object]:
    from accounts.models import Customer
    from metering.models import Meter
    from metering.selectors import usage_series

    rng = random.Random(7)
    customers = list(Customer.objects.all())
    now = datetime.now(UTC)
    results: dict[str, object] = {}
    for meter in Meter.objects.order_by("id"):
        timings: dict[str, list[float]] = {zone: [] for zone in ZONES}
        for _ in range(samples):
            customer = rng.choice(customers)
            # The usage page's "last 30 days": whole local days, up to the last local midnight.
            zone = ZoneInfo(customer.timezone)
            end = datetime.combine(now.astimezone(zone).date(), dtime(0), tzinfo=zone)
            start = end - timedelta(days=30)
            t = time.perf_counter()
            usage_series(
                customer=customer,
                meter=meter,
                start=start,
                end=end,
                window="day",
                tz=customer.timezone,
            )
            timings[customer.timezone].append(1000 * (time.perf_counter() - t))
        everything = sorted(x for values in timings.values() for x in values)
        results[meter.key] = {
            "p50_ms": statistics.median(everything),
            "p95_ms": everything[int(len(everything) * 0.95) - 1],
            "p99_ms": everything[int(len(everything) * 0.99) - 1],
            "by_zone_p95_ms": {
                zone: sorted(v)[int(len(v) * 0.95) - 1] if v else None
                for zone, v in timings.items()
            },
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    built: dict[str, object] | None = None
    rows = -1
    if dbs.database_exists(DATABASE) and not args.rebuild:
        with dbs.connect(DATABASE) as conn:
            rows = conn.execute("SELECT count(*) FROM metering_usageevent").fetchone()[0]
    if rows == args.events and not _current_layout():
        rows = -1  # built by an older rollup layout: rebuild
    if rows != args.events:
        log(f"building {args.events:,} events (found {rows:,})")
        built = build(args.events)
    else:
        log(f"reusing {rows:,} events in {DATABASE}")
        dbs.django_setup(DATABASE)
        with dbs.connect(DATABASE) as conn:
            info = conn.execute("SELECT info FROM bench_dataset_info").fetchone()
        built = {**info[0], "reused": True} if info else None
    with dbs.connect(DATABASE) as conn:
        sizes = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in ("metering_usageevent", "metering_hourlyrollup", "metering_uniquevalue")
        }
        sizes["database_bytes"] = conn.execute(
            "SELECT pg_database_size(current_database())"
        ).fetchone()[0]
    latencies = measure(args.samples)
    json.dump(
        {
            "events": args.events,
            "customers": CUSTOMERS,
            "sizes": sizes,
            "built": built,
            "samples_per_meter": args.samples,
            "latency": latencies,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
