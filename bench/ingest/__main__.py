"""``bin/tally exec -- python -m bench.ingest [--quick]``: run the ingest benchmark and write
docs/benchmarks.md. See bench/README.md for what each figure means."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from bench.ingest import dbs, report
from bench.ingest.dbs import ROOT

DATABASE = "tally_bench"
CUSTOMERS = 200


def _setup() -> str:
    """Fresh bench database with customers, meters and an ingest key; returns the key."""
    dbs.recreate(DATABASE)
    dbs.migrate(DATABASE)
    dbs.django_setup(DATABASE)
    from accounts.models import Customer
    from accounts.services import api_key_create
    from metering.services import meter_create

    Customer.objects.bulk_create(
        Customer(external_id=f"bench-{i}", name=f"Bench {i}") for i in range(CUSTOMERS)
    )
    meter_create(key="requests", name="Requests", event_type="api_request", aggregation="count")
    meter_create(
        key="bytes",
        name="Bytes",
        event_type="api_request",
        aggregation="sum",
        value_property="bytes",
        group_by=["region"],
    )
    meter_create(
        key="endpoints",
        name="Endpoints used",
        event_type="api_request",
        aggregation="unique_count",
        value_property="endpoint",
    )
    return api_key_create(name="bench", scope="ingest").plaintext


def _query_bench(events: int, samples: int, rebuild: bool) -> dict[str, object] | None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.ingest.query",
            "--events",
            str(events),
            "--samples",
            str(samples),
            *(["--rebuild"] if rebuild else []),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=False,
    )
    sys.stderr.write(proc.stderr[-3000:])
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short runs and a 1-million-event query dataset (~3 min)",
    )
    parser.add_argument("--duration", type=float, help="seconds per ingest scenario")
    parser.add_argument("--web-workers", type=int, default=5)
    parser.add_argument("--rollup-workers", type=int, default=1)
    parser.add_argument("--query-events", type=int)
    parser.add_argument("--skip-query", action="store_true")
    parser.add_argument(
        "--rebuild-query-data",
        action="store_true",
        help="regenerate the usage-query dataset even if it exists",
    )
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    duration = args.duration or (8.0 if args.quick else 20.0)
    query_events = args.query_events or (1_000_000 if args.quick else 10_000_000)
    command = "bin/tally exec -- python -m bench.ingest " + " ".join(sys.argv[1:])
    started = time.monotonic()
    api_key = _setup()
    from bench.ingest import ceiling, machine, scenarios, servers

    with dbs.connect(DATABASE) as conn:
        host = machine.describe(conn)
    results = []
    with servers.running(
        DATABASE, web_workers=args.web_workers, rollup_workers=args.rollup_workers
    ) as running:
        # Warm-up (not reported): first requests import code, open connections, fill caches.
        scenarios.run(
            database=DATABASE,
            port=running.port,
            api_key=api_key,
            batch=1000,
            duplicates=0.0,
            clients=3,
            duration=3.0,
            customers=CUSTOMERS,
        )
        for batch, clients in ((1000, 5), (100, 8)):
            for duplicates in (0.0, 0.2):
                print(
                    f"[bench] batch {batch}, {duplicates:.0%} duplicates, {duration:.0f} s",
                    flush=True,
                )
                result = scenarios.run(
                    database=DATABASE,
                    port=running.port,
                    api_key=api_key,
                    batch=batch,
                    duplicates=duplicates,
                    clients=clients,
                    duration=duration,
                    customers=CUSTOMERS,
                )
                print(
                    f"[bench]   {result.events_per_s:,.0f} events/s, p50 {result.p50_ms:.0f}"
                    f" ms, p99 {result.p99_ms:.0f} ms, catch-up {result.catch_up_s}",
                    flush=True,
                )
                results.append(result)
        load_during = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print("[bench] raw PostgreSQL ceiling", flush=True)
    ceil = ceiling.measure(events=20_000 if args.quick else 50_000, customers=CUSTOMERS)
    query = None
    if not args.skip_query:
        print(f"[bench] usage queries over {query_events:,} events", flush=True)
        query = _query_bench(query_events, 60 if args.quick else 200, args.rebuild_query_data)
    report.write(
        args.output,
        command=command,
        host=host,
        load_during=load_during,
        scenarios=results,
        ceiling=ceil,
        query=query,
        duration=duration,
        web_workers=args.web_workers,
        rollup_workers=args.rollup_workers,
        total_s=time.monotonic() - started,
        quick=args.quick,
    )
    print(f"[bench] wrote {args.output} in {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
