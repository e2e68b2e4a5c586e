"""One ingest scenario: N client processes against the running server, rollup lag sampled
meanwhile, then the time until the rollup queue is empty."""

from __future__ import annotations

import multiprocessing as mp
import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import psutil

from bench.ingest.client import ClientPlan, run_client
from bench.ingest.dbs import connect


@dataclass
class ScenarioResult:
    name: str
    batch: int
    duplicates: float
    clients: int
    requests: int
    events_acked: int
    accepted: int
    duplicate: int
    stored_delta: int
    elapsed: float
    p50_ms: float
    p99_ms: float
    max_lag_s: float
    catch_up_s: float | None
    cpu_busy_pct: float
    errors: dict[int, int] = field(default_factory=dict)
    ran_out: bool = False

    @property
    def events_per_s(self) -> float:
        return self.events_acked / self.elapsed if self.elapsed else 0.0


def _busy(before: Any, after: Any) -> float:
    """Share of all cores' time not idle between two psutil.cpu_times() samples."""
    total = sum(after) - sum(before)
    idle = (after.idle - before.idle) + (getattr(after, "iowait", 0) - getattr(before, "iowait", 0))
    return 100 * (total - idle) / total if total else 0.0


def _queue_state(conn) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    batches, lag = conn.execute(
        "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)"
        " FROM metering_rollupqueue"
    ).fetchone()
    return int(batches), float(lag)


def run(
    *,
    database: str,
    port: int,
    api_key: str,
    batch: int,
    duplicates: float,
    clients: int,
    duration: float,
    customers: int,
    catch_up_limit: float = 120.0,
    path: str = "/api/v1/events",
) -> ScenarioResult:
    name = f"batch {batch}, {int(duplicates * 100)}% duplicates"
    expected_rate = 60_000 if batch >= 1000 else 20_000
    bodies = int(expected_rate * duration / clients / batch) + 2
    run_id = uuid.uuid4().hex[:10]
    start_at = time.time() + 4 + bodies * batch / 40_000  # time to pre-build bodies
    ctx = mp.get_context("fork")
    pipes, procs = [], []
    for n in range(clients):
        parent, child = ctx.Pipe(duplex=False)
        plan = ClientPlan(
            port, api_key, batch, duplicates, bodies, start_at, duration, customers, run_id, n, path
        )
        proc = ctx.Process(target=run_client, args=(plan, child), daemon=True)
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    with connect(database) as conn:
        before_rows = conn.execute("SELECT count(*) FROM metering_usageevent").fetchone()[0]
        time.sleep(max(0.0, start_at - time.time()))
        cpu0 = psutil.cpu_times()
        max_lag = 0.0
        while any(p.is_alive() for p in procs) and time.time() < start_at + duration + 60:
            max_lag = max(max_lag, _queue_state(conn)[1])
            time.sleep(0.5)
        results = [pipe.recv() for pipe in pipes]
        for proc in procs:
            proc.join(10)
        cpu1 = psutil.cpu_times()
        finished = time.monotonic()
        catch_up = None
        while time.monotonic() - finished < catch_up_limit:
            batches, lag = _queue_state(conn)
            max_lag = max(max_lag, lag)
            if batches == 0:
                catch_up = time.monotonic() - finished
                break
            time.sleep(0.2)
        after_rows = conn.execute("SELECT count(*) FROM metering_usageevent").fetchone()[0]
    latencies = sorted(x for r in results for x in r["latencies"])
    totals = [sum(r["totals"][i] for r in results) for i in range(5)]
    errors: dict[int, int] = {}
    for r in results:
        for code, count in r["errors"].items():
            errors[code] = errors.get(code, 0) + count
    return ScenarioResult(
        name=name,
        batch=batch,
        duplicates=duplicates,
        clients=clients,
        requests=len(latencies),
        events_acked=totals[0] + totals[1],
        accepted=totals[0],
        duplicate=totals[1],
        stored_delta=after_rows - before_rows,
        elapsed=max(r["elapsed"] for r in results),
        p50_ms=1000 * statistics.median(latencies) if latencies else 0.0,
        p99_ms=1000 * latencies[int(len(latencies) * 0.99) - 1] if latencies else 0.0,
        max_lag_s=max_lag,
        catch_up_s=catch_up,
        cpu_busy_pct=_busy(cpu0, cpu1),
        errors=errors,
        ran_out=any(r["ran_out"] for r in results),
    )
