"""``bin/tally exec -- python -m bench.ingest.usage_api --events 1000000``: issue 15 target 2.

What the usage API adds over its own selector: on the dataset of ``bench.ingest.query`` (built
or reused), the same query (one random customer, one meter, the 30 whole local days before the
customer's last local midnight, daily windows in its time zone) is timed in interleaved pairs:
``usage_series`` in this process, then ``GET /api/v1/customers/{id}/usage`` over a keep-alive
loopback connection to gunicorn (sync workers) with a read key. The overhead is the median of
the per-pair differences (and the difference of the medians); both sides read the same pages of
the same PostgreSQL, so the cache state is shared. Appends a row to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from bench.ingest import dbs, query, servers
from bench.ingest.dbs import ROOT

START, END = "<!-- usage-api-overhead:start -->", "<!-- usage-api-overhead:end -->"


def _dataset(events: int) -> None:
    rows = -1
    if dbs.database_exists(query.DATABASE):
        with dbs.connect(query.DATABASE) as conn:
            rows = conn.execute("SELECT count(*) FROM metering_usageevent").fetchone()[0]
    if rows != events:
        query.log(f"building {events:,} events (found {rows:,})")
        query.build(events)
    else:
        dbs.django_setup(query.DATABASE)


def _pairs(port: int, key: str, samples: int, web_pid: int) -> list[tuple[float, float, float]]:
    """(selector ms, HTTP ms, web-process CPU ms for the request) per sample."""
    from accounts.models import Customer
    from bench.ingest.efficiency import tree_cpu
    from metering.models import Meter
    from metering.selectors import usage_series

    rng = random.Random(11)
    customers = list(Customer.objects.all())
    meters = list(Meter.objects.order_by("id"))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {key}"}
    now = datetime.now(UTC)
    pairs = []
    for n in range(samples + 10):  # the first 10 warm both sides up
        customer, meter = rng.choice(customers), rng.choice(meters)
        zone = ZoneInfo(customer.timezone)
        end = datetime.combine(now.astimezone(zone).date(), dtime(0), tzinfo=zone)
        start = end - timedelta(days=30)
        t = time.perf_counter()
        usage_series(
            customer=customer, meter=meter, start=start, end=end, window="day", tz=zone.key
        )
        selector = time.perf_counter() - t
        params = urlencode(
            {"meter": meter.key, "start": start.isoformat(), "end": end.isoformat()}
            | {"window": "day", "tz": zone.key}
        )
        cpu = tree_cpu([web_pid])
        t = time.perf_counter()
        conn.request(
            "GET", f"/api/v1/customers/{customer.external_id}/usage?{params}", None, headers
        )
        response = conn.getresponse()
        body = response.read()
        http_s = time.perf_counter() - t
        cpu = tree_cpu([web_pid]) - cpu
        if response.status != 200:
            raise RuntimeError(f"usage API answered {response.status}: {body[:300]!r}")
        if n >= 10:
            pairs.append((selector * 1000, http_s * 1000, cpu * 1000))
    conn.close()
    return pairs


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest.usage_api")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--label", default="")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    _dataset(args.events)
    from accounts.services import api_key_create

    key = api_key_create(name=f"bench-usage-{time.time():.0f}", scope="read").plaintext
    with servers.running(query.DATABASE, web_workers=2, rollup_workers=1) as running:
        pairs = _pairs(running.port, key, args.samples, running.web.pid)
    selector = statistics.median(p[0] for p in pairs)
    over_http = statistics.median(p[1] for p in pairs)
    overhead = statistics.median(p[1] - p[0] for p in pairs)
    web_cpu = statistics.mean(p[2] for p in pairs)
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        json.dumps(
            {"selector_p50_ms": selector, "http_p50_ms": over_http, "overhead_p50_ms": overhead}
        )
    )
    row = (
        f"| {datetime.now(UTC):%Y-%m-%d %H:%M} {args.label} | {load_before.split()[0]} / "
        f"{load_after.split()[0]} | {args.events:,} | {len(pairs)} | {selector:.1f} ms "
        f"| {over_http:.1f} ms | **{overhead:.1f} ms** (target <= 5) "
        f"| {over_http - selector:.1f} ms | {web_cpu:.1f} ms |"
    )
    _write(Path(args.output), row)
    return 0


def _write(target: Path, row: str) -> None:
    existing = target.read_text() if target.exists() else "# Benchmarks\n"
    old = [
        line
        for line in existing.partition(START)[2].partition(END)[0].splitlines()
        if line.startswith("| 20")
    ]
    section = "\n".join(
        [
            START,
            "## Usage API overhead over its selector (issue 15 target 2)",
            "",
            "`bin/tally exec -- python -m bench.ingest.usage_api --events N`: the same query "
            "(one random customer and meter, 30 local days, daily windows in the customer's "
            "zone) timed in interleaved pairs, `usage_series` in-process then "
            "`GET /api/v1/customers/{id}/usage` over keep-alive loopback HTTP (gunicorn, 2 "
            "sync workers, read key). Overhead = median of the per-pair differences; the last "
            "column but one is the difference of the medians; the last is the CPU of the "
            "gunicorn workers per request (with the selector's Python work; its SQL runs in "
            "PostgreSQL). 2 cores shared with other engineers' "
            "work (load average before / after).",
            "",
            "| run (UTC) | load avg | events | pairs | selector p50 | HTTP p50 "
            "| overhead p50 (paired) | p50 difference | web CPU per request (mean) |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *old[-18:],
            row,
            "",
            END,
        ]
    )
    if START in existing:
        head, _, rest = existing.partition(START)
        text = head + section + rest.partition(END)[2]
    else:
        text = existing.rstrip("\n") + "\n\n" + section + "\n"
    target.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
