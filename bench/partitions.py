"""Monthly partitioning of usage events, before vs after, in one run (issue 16, PostgreSQL store).

    bin/tally exec -- python -m bench.partitions [--preload 1000000] [--events 30000] [--rounds 3]

Two bench databases on the same server: ``tally_bench_plain`` (migrations up to metering 0006:
the plain events table with its unique constraint) and ``tally_bench_part`` (all migrations:
monthly partitions plus the dedup key table). Both get the same customers and the same
``--preload`` events over four months (in the partitioned one, through the key table too).
Then, in interleaved rounds, batches of 1,000 new events (one transaction each, 20 % of every
batch re-sends already stored ids) through:

- ``copy``: COPY of the batch's new events into a copy of the plain table (same indexes, no
  dedup; re-sends left out, so its rate counts stored rows): the ceiling;
- ``before``: the ingest SQL of main (COPY to staging + INSERT ... ON CONFLICT on the events'
  unique constraint + rollup queue row) into the plain table;
- ``after``: ``metering.ingest.store``'s SQL (the key table decides, events go to partitions).

Reported per path: events/s (one client), ratio to ``copy`` in the same round, and CPU per
1,000 events (client process + its PostgreSQL backend, from the kernel's accounting). Then the
usage query of one customer-month over raw events (daily count and sum), and the rollup
worker's read of 1,000 events by id, p50/p95 over interleaved samples on both databases.
Prints a Markdown table to paste into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import psutil

from bench.ingest import dbs

PLAIN, PART = "tally_bench_plain", "tally_bench_part"
CUSTOMERS = 200
OLD_INSERT = """
WITH ins AS (
    INSERT INTO metering_usageevent
        (namespace, event_id, customer_id, customer_ref, type, timestamp, timestamp_given,
         properties, content_hash, received_at, attributed_at, is_late)
    SELECT %(ns)s, s.event_id, s.customer_id, s.customer_ref, s.type, s.ts, s.given,
           s.props::jsonb, s.hash, %(at)s,
           CASE WHEN s.customer_id IS NULL THEN NULL ELSE %(at)s::timestamptz END, false
    FROM metering_ingest_stage s ORDER BY s.event_id
    ON CONFLICT (namespace, event_id) DO NOTHING
    RETURNING id, event_id, customer_id
), queued AS (
    INSERT INTO metering_rollupqueue (event_pks, created_at)
    SELECT array_agg(id ORDER BY id), %(at)s FROM ins WHERE customer_id IS NOT NULL
    HAVING count(*) > 0
)
SELECT id, event_id FROM ins
"""
STAGE_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS metering_ingest_stage (event_id text, customer_id bigint,"
    " customer_ref text, type text, ts timestamptz, given boolean, props text, hash bytea)"
    " ON COMMIT DELETE ROWS"
)
PRELOAD = """
INSERT INTO metering_usageevent (namespace, event_id, customer_id, customer_ref, type,
    timestamp, timestamp_given, properties, content_hash, received_at, attributed_at, is_late)
SELECT '', 'p' || g, %(first)s + (g %% %(n)s), 'bench-' || (g %% %(n)s), 'api_request',
    %(end)s - make_interval(secs => ((g * 7919) %% %(span)s)::double precision), true,
    jsonb_build_object('bytes', g %% 100000), decode(md5(g::text), 'hex'), %(end)s, %(end)s,
    false
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint - 1) AS g
"""
KEYS_FROM_EVENTS = """
INSERT INTO metering_usageeventkey (namespace, event_id, event_pk, timestamp, content_hash)
SELECT namespace, event_id, id, timestamp, content_hash FROM metering_usageevent
"""


def log(message: str) -> None:
    sys.stderr.write(f"[partitions-bench] {message}\n")
    sys.stderr.flush()


def _migrate(name: str, *target: str) -> None:
    env = {**os.environ, "DATABASE_URL": dbs.url_for(name)}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0", *target],
        cwd=dbs.ROOT,
        env=env,
        check=True,
    )


def _schemas() -> None:
    """Create and migrate both databases (slow: two full migrations and one reverse)."""
    for name in (PLAIN, PART):
        dbs.recreate(name)
        _migrate(name)
    _migrate(PLAIN, "metering", "0006")
    with dbs.connect(PART) as part, dbs.connect(PLAIN) as plain:
        part.execute(
            "INSERT INTO accounts_customer (external_id, name, email, currency, timezone,"
            " address_line1, address_line2, city, state, postal_code, country, tax_id,"
            " stripe_customer_id, status, created_at, updated_at)"
            " SELECT 'bench-' || g, 'Bench ' || g, '', 'USD', 'UTC', '', '', '', '', '', '',"
            " '', '', 'active', now(), now() FROM generate_series(0, %s - 1) g",
            [CUSTOMERS],
        )
        with (
            part.cursor().copy("COPY accounts_customer TO STDOUT") as src,
            plain.cursor().copy("COPY accounts_customer FROM STDIN") as dst,
        ):
            for chunk in src:
                dst.write(chunk)


def build(preload: int, now: datetime, *, rebuild: bool) -> None:
    if rebuild or not (dbs.database_exists(PLAIN) and dbs.database_exists(PART)):
        _schemas()
    with dbs.connect(PART) as part, dbs.connect(PLAIN) as plain:
        for conn in (plain, part):
            conn.execute("DROP TABLE IF EXISTS bench_copy")
            conn.execute("TRUNCATE metering_usageevent, metering_rollupqueue CASCADE")
        part.execute("TRUNCATE metering_usageeventkey")
        month = datetime(now.year, now.month, 1, tzinfo=UTC)
        for back in (1, 2, 3, 4):  # the migration made this month and three ahead
            lo = (month - timedelta(days=28 * back)).replace(day=1)
            hi = (lo + timedelta(days=32)).replace(day=1)
            part.execute(
                f"CREATE TABLE IF NOT EXISTS metering_usageevent_y{lo:%Y}m{lo:%m}"
                f" PARTITION OF metering_usageevent FOR VALUES FROM ('{lo.isoformat()}')"
                f" TO ('{hi.isoformat()}')"
            )
        for conn, name in ((plain, PLAIN), (part, PART)):
            first = conn.execute("SELECT min(id) FROM accounts_customer").fetchone()[0]
            started = time.monotonic()
            for lo_n in range(0, preload, 500_000):
                params = {"first": first, "n": CUSTOMERS, "end": now, "span": 110 * 86400}
                conn.execute(PRELOAD, {**params, "lo": lo_n, "hi": min(preload, lo_n + 500_000)})
            if name == PART:
                conn.execute(KEYS_FROM_EVENTS)
            conn.execute("VACUUM ANALYZE")
            log(f"{name}: {preload:,} events preloaded in {time.monotonic() - started:.0f} s")


def _batches(count: int, tag: str, dup_share: float, now: datetime) -> list[list[tuple]]:
    """Staging rows of ``count`` events in batches of 1,000; ``dup_share`` of each batch
    re-sends preloaded ids with their content (duplicates)."""
    rng = random.Random(tag)
    batches = []
    for b in range(count // 1000):
        rows = []
        for i in range(1000):
            if rng.random() < dup_share:
                g = rng.randrange(0, 100_000)
                customer = g % CUSTOMERS
                event_id, ts = f"p{g}", now - timedelta(seconds=(g * 7919) % (110 * 86400))
            else:
                customer = rng.randrange(CUSTOMERS)
                event_id, ts = f"{tag}-{b}-{i}", now - timedelta(seconds=rng.randrange(86400 * 30))
            digest = rng.randbytes(16)
            rows.append(
                (
                    event_id,
                    customer,
                    f"bench-{customer}",
                    "api_request",
                    ts,
                    True,
                    '{"bytes": 1}',
                    digest,
                )
            )
        batches.append(sorted({r[0]: r for r in rows}.values()))
    return batches


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def _ingest(name: str, sql: str, batches: list[list[tuple]], now: datetime) -> tuple[float, float]:
    """Events/s and CPU s per 1,000 events (client + backend) for ``sql`` (None: plain COPY)."""
    with dbs.connect(name, autocommit=False) as conn:
        first = conn.execute("SELECT min(id) FROM accounts_customer").fetchone()[0]
        backend = psutil.Process(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
        if sql == "copy":
            conn.execute(
                "CREATE TABLE IF NOT EXISTS bench_copy (LIKE metering_usageevent INCLUDING ALL)"
            )
        conn.execute(STAGE_DDL)
        conn.commit()
        me = psutil.Process()
        cpu0, wall0, events = _cpu(me) + _cpu(backend), time.perf_counter(), 0
        for rows in batches:
            with conn.cursor() as cur:
                if sql == "copy":
                    with cur.copy(
                        "COPY bench_copy (namespace, event_id, customer_id,"
                        " customer_ref, type, timestamp, timestamp_given, properties,"
                        " content_hash, received_at, attributed_at, is_late)"
                        " FROM STDIN"
                    ) as copy:
                        rows = [r for r in rows if not r[0].startswith("p")]  # new only
                        for r in rows:
                            copy.write_row(
                                (
                                    "",
                                    r[0],
                                    first + r[1],
                                    r[2],
                                    r[3],
                                    r[4],
                                    r[5],
                                    r[6],
                                    r[7],
                                    now,
                                    now,
                                    False,
                                )
                            )
                else:
                    cur.execute("DELETE FROM metering_ingest_stage")
                    with cur.copy("COPY metering_ingest_stage FROM STDIN") as copy:
                        for r in rows:
                            copy.write_row((r[0], first + r[1], *r[2:]))
                    cur.execute(sql, {"ns": "", "at": now})
                    cur.fetchall()
            conn.commit()
            events += len(rows)
        wall = time.perf_counter() - wall0
        cpu = _cpu(me) + _cpu(backend) - cpu0
    return events / wall, cpu / events * 1000


USAGE_QUERY = """
SELECT date_trunc('day', e.timestamp AT TIME ZONE 'UTC'), count(*),
       sum((e.properties->>'bytes')::numeric)
FROM metering_usageevent e
WHERE e.customer_id = %s AND e.type = 'api_request' AND e.timestamp >= %s AND e.timestamp < %s
GROUP BY 1
"""
BY_ID_JOIN = """
SELECT count(*), sum((e.properties->>'bytes')::numeric)
FROM unnest(%s::bigint[]) AS ids(pk) JOIN metering_usageevent e ON e.id = ids.pk
"""
BY_ID_ANY = """
SELECT count(*), sum((e.properties->>'bytes')::numeric)
FROM metering_usageevent e WHERE e.id = ANY(%s::bigint[])
"""


def _reads(samples: int, now: datetime) -> dict[str, dict[str, list[float]]]:
    """Interleaved: one customer-month of raw events, and 1,000 events by id (rollup read)."""
    month_lo = datetime(now.year, now.month, 1, tzinfo=UTC) - timedelta(days=1)
    month_lo = month_lo.replace(day=1)
    month_hi = datetime(now.year, now.month, 1, tzinfo=UTC)
    times: dict[str, dict[str, list[float]]] = {
        n: {"month": [], "by_id_join": [], "by_id_any": []} for n in (PLAIN, PART)
    }
    with dbs.connect(PLAIN) as plain, dbs.connect(PART) as part:
        first = plain.execute("SELECT min(id) FROM accounts_customer").fetchone()[0]
        lows = {
            name: conn.execute("SELECT min(id) FROM metering_usageevent").fetchone()[0]
            for name, conn in ((PLAIN, plain), (PART, part))
        }
        span = plain.execute("SELECT max(id) - min(id) FROM metering_usageevent").fetchone()[0]
        rng = random.Random(7)
        for _ in range(samples):
            customer = first + rng.randrange(CUSTOMERS)
            offsets = [rng.randrange(span) for _ in range(1000)]  # same rows in both databases
            for name, conn in ((PLAIN, plain), (PART, part)):
                for kind, sql, params in (
                    ("month", USAGE_QUERY, [customer, month_lo, month_hi]),
                    ("by_id_join", BY_ID_JOIN, [[lows[name] + o for o in offsets]]),
                    ("by_id_any", BY_ID_ANY, [[lows[name] + o for o in offsets]]),
                ):
                    t0 = time.perf_counter()
                    conn.execute(sql, params).fetchall()
                    times[name][kind].append((time.perf_counter() - t0) * 1000)
    return times


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preload", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=30_000, help="per path and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--rebuild", action="store_true", help="re-create both databases")
    args = parser.parse_args()
    load_before = os.getloadavg()
    started = time.monotonic()
    now = datetime.now(UTC).replace(microsecond=0)
    build(args.preload, now, rebuild=args.rebuild)
    dbs.django_setup(PART)
    from metering.ingest.store import _INSERT as NEW_INSERT

    paths = {"copy": (PLAIN, "copy"), "before": (PLAIN, OLD_INSERT), "after": (PART, NEW_INSERT)}
    results: dict[str, list[tuple[float, float, float]]] = {k: [] for k in paths}
    for r in range(args.rounds):
        batches = _batches(args.events, f"r{r}", 0.2, now)
        measured = {k: _ingest(db, sql, batches, now) for k, (db, sql) in paths.items()}
        for k, (rate, cpu) in measured.items():
            results[k].append((rate, rate / measured["copy"][0], cpu))
            log(f"round {r}: {k} {rate:,.0f} ev/s, {cpu * 1000:.1f} ms CPU / 1k")
    reads = _reads(args.samples, now)
    load_after = os.getloadavg()
    print(
        f"\nMeasured {now:%Y-%m-%d %H:%M} UTC, `python -m bench.partitions --preload"
        f" {args.preload} --events {args.events} --rounds {args.rounds}` ({os.cpu_count()}"
        f" cores, load average {load_before[0]:.2f} before / {load_after[0]:.2f} after,"
        f" {(time.monotonic() - started) / 60:.1f} min).\n"
    )
    print(
        "| path | events/s (median of rounds) | ratio to COPY (median, range) |"
        " CPU per 1,000 events (client + backend) |"
    )
    print("| --- | ---: | --- | ---: |")
    for k, rows in results.items():
        rates, ratios, cpus = zip(*rows, strict=True)
        print(
            f"| {k} | {statistics.median(rates):,.0f} | {statistics.median(ratios):.2f}"
            f" ({min(ratios):.2f}-{max(ratios):.2f}) | {statistics.median(cpus) * 1000:.1f} ms |"
        )
    print("\n| read | plain p50 / p95 | partitioned p50 / p95 |")
    print("| --- | --- | --- |")
    for kind, label in (
        ("month", "one customer-month, raw events, daily count + sum"),
        ("by_id_join", "1,000 events by id, join on unnest(ids) (main's rollup claim)"),
        ("by_id_any", "1,000 events by id, id = ANY(array) (this branch's rollup claim)"),
    ):
        a, b = reads[PLAIN][kind], reads[PART][kind]
        print(
            f"| {label} | {_pct(a, 0.5):.1f} / {_pct(a, 0.95):.1f} ms |"
            f" {_pct(b, 0.5):.1f} / {_pct(b, 0.95):.1f} ms |"
        )


if __name__ == "__main__":
    main()
