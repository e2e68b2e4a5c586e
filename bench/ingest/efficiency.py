"""``bin/tally exec -- python -m bench.ingest.efficiency``: issue 15 target 1.

Tally's HTTP ingest rate as a share of PostgreSQL's own COPY + staging-upsert path, both
measured in the same run in interleaved rounds (so a noisy, shared machine weighs on both
alike), and the CPU each costs per 1,000 events, read from the kernel's accounting (``/proc``
through psutil) of every process involved.

- *ceiling*: the same number of client processes as the Tally scenario, each on its own
  connection, send pre-built rows of the same events with ``metering.ingest.store``'s own SQL
  (COPY into the per-connection staging table, then the one ``INSERT … ON CONFLICT DO NOTHING
  RETURNING`` that also writes the rollup queue row), one committed transaction per batch. No
  HTTP, no JSON, no validation: the physical limit of the storage path.
- *tally*: the ingest scenario of ``bench.ingest`` (HTTP, gunicorn sync workers, the rollup
  worker, rollups caught up before the CPU is read).
- CPU per 1,000 events: user + system seconds of gunicorn (master and workers), the Celery
  worker (with beat) and PostgreSQL (postmaster, backends, background writers), including
  children that exited, until the rollup queue is empty again; for the ceiling, the same plus
  its client processes (its rows are queued and rolled up like Tally's, so both figures
  carry the same rollup work and the difference is what Tally adds).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil

from bench.ingest import dbs, machine
from bench.ingest.dbs import ROOT

DATABASE = "tally_bench"
CUSTOMERS = 200
START, END = "<!-- ingest-efficiency:start -->", "<!-- ingest-efficiency:end -->"


# The ceiling's SQL, frozen as metering.ingest.store had it when issue 15's targets were set
# (DDL + DELETE, COPY with the customer ids already resolved, then the upsert): the yardstick
# stays the same while Tally's own statements change (since then Tally resolves customers in
# its statement, creates the staging table once per connection and empties it in the upsert).
_CEILING_STAGE = "metering_ingest_stage"
_CEILING_STAGE_DDL = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_CEILING_STAGE} (event_id text, customer_id bigint,"
    " customer_ref text, type text, ts timestamptz, given boolean, props text, hash bytea)"
    " ON COMMIT DELETE ROWS"
)
_CEILING_INSERT = f"""
WITH keys AS (
    INSERT INTO metering_usageeventkey (namespace, event_id, event_pk, timestamp, content_hash)
    SELECT %(ns)s, s.event_id, nextval('metering_usageevent_id_seq'),
           s.ts, s.hash
    FROM {_CEILING_STAGE} s ORDER BY s.event_id
    ON CONFLICT (namespace, event_id) DO NOTHING
    RETURNING event_id, event_pk
), ins AS (
    INSERT INTO metering_usageevent
        (id, namespace, event_id, customer_id, customer_ref, type, timestamp, timestamp_given,
         properties, content_hash, received_at, attributed_at, is_late)
    SELECT k.event_pk, %(ns)s, s.event_id, s.customer_id, s.customer_ref, s.type, s.ts, s.given,
           s.props::jsonb, s.hash, %(at)s,
           CASE WHEN s.customer_id IS NULL THEN NULL ELSE %(at)s::timestamptz END, false
    FROM keys k JOIN {_CEILING_STAGE} s ON s.event_id = k.event_id
    RETURNING id, event_id, customer_id
), queued AS (
    INSERT INTO metering_rollupqueue (event_pks, created_at)
    SELECT array_agg(id ORDER BY id), %(at)s FROM ins WHERE customer_id IS NOT NULL
    HAVING count(*) > 0
)
SELECT id, event_id FROM ins
"""  # noqa: S608  (table names are constants)


def tree_cpu(pids: list[int]) -> float:
    """User + system CPU seconds of these processes, their live descendants, and the
    descendants that exited and were waited for (``children_*``)."""
    total = 0.0
    seen: set[int] = set()
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in procs:
            if proc.pid in seen:
                continue
            seen.add(proc.pid)
            try:
                t = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system + t.children_user + t.children_system
    return total


@dataclass
class Measure:
    path: str
    batch: int
    clients: int
    events: int
    seconds: float
    cpu_s: float
    parts: dict[str, float] | None = None

    @property
    def per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_1000(self) -> float:
        return 1000 * self.cpu_s / self.events * 1000 if self.events else 0.0


def _rows(batch: int, batches: int, client: int, tag: str) -> list[list[tuple[Any, ...]]]:
    from django.utils import timezone

    from bench.ingest.client import ClientPlan, build_bodies
    from metering.ingest.limits import ingest_limits
    from metering.ingest.service import resolve_customers
    from metering.ingest.wire import EventValidator, ValidEvent, decode_body

    ids = resolve_customers(f"bench-{i}" for i in range(CUSTOMERS))
    validator = EventValidator(ingest_limits(), timezone.now(), check_imprecise=False)
    plan = ClientPlan(0, "", batch, 0.0, batches, 0.0, 0.0, CUSTOMERS, tag, client)
    out = []
    for body in build_bodies(plan):
        document, _ = decode_body(body, content_encoding="", limits=ingest_limits())
        valid = [validator.validate(i, raw) for i, raw in enumerate(document["events"])]
        out.append(
            [
                (
                    e.event_id,
                    ids.get(e.customer_ref),
                    e.customer_ref,
                    e.type,
                    e.timestamp,
                    e.timestamp_given,
                    e.properties_json,
                    e.content_hash,
                )
                for e in valid
                if isinstance(e, ValidEvent)
            ]
        )
    return out


def _ceiling_client(rows: list[list[tuple[Any, ...]]], start_at: float, out: Connection) -> None:
    with dbs.connect(DATABASE, autocommit=False) as conn:
        time.sleep(max(0.0, start_at - time.time()))
        started = time.monotonic()
        for batch in rows:
            with conn.cursor() as cur:
                cur.execute(f"{_CEILING_STAGE_DDL}; DELETE FROM {_CEILING_STAGE}")  # noqa: S608
                with cur.copy(f"COPY {_CEILING_STAGE} FROM STDIN") as copy:
                    for row in batch:
                        copy.write_row(row)
                cur.execute(_CEILING_INSERT, {"ns": "bench-ceiling", "at": datetime.now(UTC)})
                cur.fetchall()
            conn.commit()
        out.send((sum(len(b) for b in rows), time.monotonic() - started))


def _drain(limit: float = 120.0) -> None:
    """Wait until the rollup worker has emptied the rollup queue."""
    with dbs.connect(DATABASE) as conn:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if not conn.execute("SELECT count(*) FROM metering_rollupqueue").fetchone()[0]:
                return
            time.sleep(0.2)


def ceiling(batch: int, clients: int, events: int, pids: list[int]) -> Measure:
    from django.db import connection

    tag = uuid.uuid4().hex[:8]
    per_client = max(1, events // clients // batch)
    plans = [_rows(batch, per_client, n, tag) for n in range(clients)]
    connection.close()  # the children must not share this process's connection
    ctx = mp.get_context("fork")
    start_at = time.time() + 1.0
    pipes, procs = [], []
    for rows in plans:
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_ceiling_client, args=(rows, start_at, child), daemon=True)
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    cpu0 = tree_cpu(pids)
    self0 = psutil.Process().cpu_times()
    results = [pipe.recv() for pipe in pipes]
    for proc in procs:
        proc.join(30)
    _drain()  # the rollups of these events are part of their cost, as for Tally's
    self1 = psutil.Process().cpu_times()
    cpu = tree_cpu(pids) - cpu0
    cpu += (self1.children_user + self1.children_system) - (
        self0.children_user + self0.children_system
    )
    return Measure(
        "ceiling",
        batch,
        clients,
        sum(n for n, _ in results),
        max(s for _, s in results),
        cpu,
    )


def tally(
    port: int,
    api_key: str,
    batch: int,
    clients: int,
    duration: float,
    pids: list[int],
    profile: str | None = None,
    path: str = "/api/v1/events",
) -> Measure:
    from bench.ingest import profile as sampling
    from bench.ingest import scenarios

    spy = sampling.start(pids[0], Path(profile) / f"web-batch{batch}.txt") if profile else None
    cpu0 = [tree_cpu([pid]) for pid in pids]
    result = scenarios.run(
        database=DATABASE,
        port=port,
        api_key=api_key,
        batch=batch,
        duplicates=0.0,
        clients=clients,
        duration=duration,
        customers=CUSTOMERS,
        path=path,
    )
    if spy is not None:
        sampling.stop(spy)
    parts = {
        name: tree_cpu([pid]) - before
        for name, pid, before in zip(("web", "worker", "postgres"), pids, cpu0, strict=True)
    }
    if result.errors or result.stored_delta != result.accepted:
        print(
            f"[efficiency] WARNING errors {result.errors}, stored {result.stored_delta},"
            f" accepted {result.accepted}"
        )
    cpu = sum(parts.values())
    return Measure("tally", batch, clients, result.events_acked, result.elapsed, cpu, parts)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest.efficiency")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per Tally scenario")
    parser.add_argument("--web-workers", type=int, default=5)
    parser.add_argument("--label", default="", help="names this run in the table (e.g. before)")
    parser.add_argument(
        "--profile", help="directory: py-spy the web workers during the first round's scenarios"
    )
    parser.add_argument(
        "--compact", action="store_true", help="clients ask for the compact ingest response"
    )
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    from bench.ingest import servers
    from bench.ingest.__main__ import _setup

    started = time.monotonic()
    api_key = _setup()
    with dbs.connect(DATABASE) as conn:
        host = machine.describe(conn)
        pg_pid = machine.postmaster_pid(conn)
    plan = ((1000, 5, 60_000), (100, 8, 16_000))
    measures: list[Measure] = []
    with servers.running(DATABASE, web_workers=args.web_workers, rollup_workers=1) as running:
        pids = [*running.pids, pg_pid]
        tally(running.port, api_key, 1000, 3, 3.0, pids)  # warm-up, not reported
        for round_no in range(args.rounds):
            for batch, clients, events in plan:
                for m in (
                    ceiling(batch, clients, events, pids),
                    tally(
                        running.port,
                        api_key,
                        batch,
                        clients,
                        args.duration,
                        pids,
                        args.profile if round_no == 0 else None,
                        "/api/v1/events?outcomes=not_accepted"
                        if args.compact
                        else "/api/v1/events",
                    ),
                ):
                    print(
                        f"[efficiency] round {round_no + 1} {m.path:7} batch {batch:4}: "
                        f"{m.per_s:9,.0f} events/s, {m.cpu_ms_per_1000:6.1f} ms CPU / 1,000"
                        f" {_split(m)}",
                        flush=True,
                    )
                    measures.append(m)
        load_end = " ".join(f"{x:.2f}" for x in os.getloadavg())
    _write(args, host, load_end, measures, time.monotonic() - started)
    return 0


def _split(m: Measure) -> str:
    if not m.parts or not m.events:
        return ""
    return "(" + ", ".join(f"{k} {1e6 * v / m.events:.1f}" for k, v in m.parts.items()) + ")"


def _summary(measures: list[Measure], batch: int) -> dict[str, float]:
    ceil = [m for m in measures if m.batch == batch and m.path == "ceiling"]
    ours = [m for m in measures if m.batch == batch and m.path == "tally"]
    ratios = [t.per_s / c.per_s for c, t in zip(ceil, ours, strict=True) if c.per_s]
    return {
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "tally_per_s": statistics.median(m.per_s for m in ours),
        "ceiling_per_s": statistics.median(m.per_s for m in ceil),
        "tally_cpu": statistics.median(m.cpu_ms_per_1000 for m in ours),
        "ceiling_cpu": statistics.median(m.cpu_ms_per_1000 for m in ceil),
    }


def _write(
    args: Any, host: dict[str, str], load_end: str, measures: list[Measure], total: float
) -> None:
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    target = Path(args.output)
    existing = target.read_text() if target.exists() else "# Benchmarks\n"
    old_rows = [
        line
        for line in existing.partition(START)[2].partition(END)[0].splitlines()
        if line.startswith("| 20")
    ]
    rows = []
    for batch, target_ratio, target_cpu in ((1000, 0.5, 45), (100, 0.4, 120)):
        s = _summary(measures, batch)
        rows.append(
            f"| {when} {args.label} | {host['load_before'].split()[0]} / {load_end.split()[0]} "
            f"| {batch:,} | {s['tally_per_s']:,.0f} | {s['ceiling_per_s']:,.0f} "
            f"| **{s['ratio']:.2f}** ({s['ratio_min']:.2f}-{s['ratio_max']:.2f}; target "
            f">= {target_ratio}) | **{s['tally_cpu']:.0f} ms** (target <= {target_cpu}) "
            f"| {s['ceiling_cpu']:.0f} ms |"
        )
    section = "\n".join(
        [
            START,
            "## Ingest efficiency against the COPY + staging-upsert path (issue 15 target 1)",
            "",
            f"`bin/tally exec -- python -m bench.ingest.efficiency` ({args.rounds} interleaved "
            f"rounds per run, {args.duration:g} s Tally scenarios, {args.web_workers} gunicorn "
            f"workers; batch 1,000 with 5 clients, batch 100 with 8; the ceiling uses as many "
            f"client connections). Machine: {host['cores']} cores ({host['cpu_model']}), "
            f"PostgreSQL {host['postgres']} ({host['pg_durability']}), shared with other "
            f"engineers' work: the load average (before / after) says how much. Ratio = "
            f"Tally events/s over the ceiling's in the same round (median, range over rounds); "
            f"CPU = all Tally processes + PostgreSQL per 1,000 events (median over rounds). "
            f"The last run took {total / 60:.1f} min.",
            "",
            "| run (UTC) | load avg | batch | Tally events/s | ceiling events/s | ratio "
            "| Tally CPU / 1,000 events | ceiling CPU / 1,000 events |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            *old_rows,
            *rows,
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
    print(f"[efficiency] wrote {target}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
