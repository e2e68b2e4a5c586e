"""Benchmark: alerts evaluated from the rollup path, 10,000 customers x 3 alerts.

    bin/tally exec -- python bench/alerts.py                       # 10,000 customers, 60 s
    bin/tally exec -- python bench/alerts.py --customers 2000 --rate 5000 --duration 20
    bin/tally exec -- python bench/alerts.py --usage-at 8 --every 5 --spend-calls 10

Builds a throw-away database (``<dev db>_bench_alerts``): one count meter, a plan (platform fee
99 + 0.01 per call), N customers on it, and three alerts per customer: usage >= 40 calls,
usage every 25 calls (recurring), and spend >= 99.50 (the upcoming invoice, crossed at the
50th call; ``--usage-at``, ``--every`` and ``--spend-calls`` move the three, so that a short
run at the rate this machine reaches still crosses them). Then, for ``--duration`` seconds, it
ingests batches of ``--batch`` events at ``--rate`` events/s (the ingest scenarios of
docs/benchmarks.md: batches of 1,000 at 20,000/s), each batch one event for each of ``--batch``
consecutive customers, while separate processes play the workers: one rollup loop
(``rollup_run``, which calls the alerts hook) and ``--evaluators`` evaluation loops
(``alerts_evaluate_pending``; default 2, one per core of the 2-core benchmark machine: they
claim disjoint customers), as Celery would run them.

Reports, as one JSON line: events acknowledged and the rate reached; triggers fired; the
latency from the ingest acknowledgement of the event that crossed a threshold to its trigger
row (p50/p95/p99/max); customers evaluated; the evaluators' CPU (Python + their PostgreSQL
backends) per event ingested and per customer evaluation; the rollup loop's CPU; load average.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.billing import _bench_database, setup_django  # noqa: E402

LIMITS = {"usage_at": 40, "every": 25, "spend_calls": 50}


def _bench_url() -> str:
    return _bench_database(os.environ["DATABASE_URL"], "_bench_alerts")


def build(customers: int, usage_at: int, every: int, spend_calls: int) -> None:
    from django.core.management import call_command

    from accounts.models import Customer
    from invoicing.alerts.models import Alert
    from invoicing.models import Contract
    from invoicing.services.catalog import plan_create, plan_version_create
    from metering.models import Meter
    from metering.services import meter_create

    call_command("migrate", verbosity=0)
    spend_at = f"{Decimal(99) + Decimal('0.01') * (spend_calls - 1) + Decimal('0.005'):f}"
    meter_create(key="calls", name="Calls", event_type="call", aggregation="count")
    meter = Meter.objects.get(key="calls")
    plan = plan_create(key="bench", name="Bench")
    fee = {"key": "fee", "name": "Fee", "kind": "fixed", "price": {"model": "flat", "amount": "99"}}
    calls = {
        "key": "calls",
        "name": "Calls",
        "kind": "usage",
        "meter_key": "calls",
        "price": {"model": "per_unit", "unit_amount": "0.01"},
    }
    version = plan_version_create(plan=plan, charges=[fee, calls])
    Customer.objects.bulk_create(
        [Customer(external_id=f"c{n}", name=f"C {n}", currency="USD") for n in range(customers)],
        batch_size=5000,
    )
    rows = list(Customer.objects.order_by("pk"))
    Contract.objects.bulk_create(
        [
            Contract(
                customer=c,
                plan_version=version,
                start_date=datetime.now(UTC).date().replace(day=1),
                billing_anchor_day=1,
                timezone="UTC",
            )
            for c in rows
        ],
        batch_size=5000,
    )
    alerts = []
    for c in rows:
        alerts += [
            Alert(name="usage", type="usage_threshold", customer=c, meter=meter,
                  thresholds=[{"value": str(usage_at), "recurring": False}]),
            Alert(name="every", type="usage_threshold", customer=c, meter=meter,
                  thresholds=[{"value": str(every), "recurring": True}]),
            Alert(name="budget", type="spend_threshold", customer=c,
                  thresholds=[{"value": spend_at, "recurring": False}]),
        ]  # fmt: skip
    Alert.objects.bulk_create(alerts, batch_size=5000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _quiet_kicks() -> None:
    """The loops below are the workers: no Celery messages to the dev broker."""
    import invoicing.alerts.tasks as alert_tasks
    import metering.tasks as metering_tasks

    metering_tasks.rollup_kick = lambda: None  # type: ignore[assignment]
    alert_tasks.alerts_kick = lambda: None  # type: ignore[assignment]


def _cpu(pid: int) -> float:
    import psutil

    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def _loop(args: tuple[str, str, float]) -> dict[str, float]:
    """A worker: ``rollup`` or ``evaluate`` until the deadline and then until idle."""
    database_url, kind, deadline = args
    setup_django(database_url)
    _quiet_kicks()
    from django.db import connection

    from invoicing.alerts.services import alerts_evaluate_pending
    from metering.services.rollups import rollup_run

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    cpu0, db0, done, idle_since, quiet = _cpu(os.getpid()), _cpu(backend), 0, None, 0
    while True:
        if kind == "rollup":
            work = rollup_run().events
        else:
            stats = alerts_evaluate_pending(max_rounds=1)
            work, quiet = stats.customers, quiet + getattr(stats, "quiet", 0)
        done += work
        if work:
            idle_since = None
            continue
        if time.time() > deadline:
            idle_since = idle_since or time.time()
            if time.time() - idle_since > 3:
                break
        time.sleep(0.05)
    return {"kind": kind, "done": done, "cpu_s": _cpu(os.getpid()) - cpu0,
            "db_cpu_s": _cpu(backend) - db0, "quiet": quiet}  # fmt: skip


def feed(customers: int, rate: int, batch: int, duration: float) -> list[tuple[float, int]]:
    """Ingest in-process at ``rate``; returns (ack time, first customer index) per batch."""
    from metering.services import events_ingest

    acks, sent, offset = [], 0, 0
    start = time.time()
    while time.time() - start < duration:
        when = (datetime.now(UTC) - timedelta(seconds=30)).isoformat()
        events = [
            {"id": f"e{sent + i}", "customer": f"c{(offset + i) % customers}",
             "type": "call", "timestamp": when}
            for i in range(batch)
        ]  # fmt: skip
        result = events_ingest(api_key=None, events=events)
        assert result.counts.get("accepted") == batch, result.counts
        acks.append((time.time(), offset))
        sent += batch
        offset = (offset + batch) % customers
        pause = start + sent / rate - time.time()
        if pause > 0:
            time.sleep(pause)
    return acks


def crossing_acks(acks: list[tuple[float, int]], customers: int, batch: int) -> dict:
    """(customer index, calls reached) -> ack time of the batch that brought that call."""
    calls = [0] * customers
    reached: dict[tuple[int, int], float] = {}
    for ack, offset in acks:
        for i in range(batch):
            c = (offset + i) % customers
            calls[c] += 1
            reached[(c, calls[c])] = ack
    return reached


def measure(acks: list, customers: int, batch: int, limits: dict[str, int]) -> dict:
    from invoicing.alerts.models import AlertTrigger

    reached = crossing_acks(acks, customers, batch)
    latencies = []
    rows = AlertTrigger.objects.select_related("alert", "customer").values_list(
        "customer__external_id", "alert__name", "step", "triggered_at"
    )
    for external_id, name, step, triggered_at in rows:
        c = int(external_id[1:])
        calls = {
            "usage": limits["usage_at"],
            "every": limits["every"] * step,
            "budget": limits["spend_calls"],
        }[name]
        ack = reached.get((c, calls))
        if ack is not None:
            latencies.append(triggered_at.timestamp() - ack)
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 3)

    return {
        "triggers": len(rows),
        "latency_s": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99),
                      "max": round(latencies[-1], 3)} if latencies else {},
        "within_10s": round(sum(1 for x in latencies if x <= 10) / max(1, len(latencies)), 4),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--evaluators", type=int, default=2)
    for name, default in LIMITS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=default)
    opts = parser.parse_args()
    limits = {name: getattr(opts, name) for name in LIMITS}
    url = _bench_url()
    setup_django(url)
    _quiet_kicks()
    load_before = os.getloadavg()
    t0 = time.time()
    build(opts.customers, **limits)
    built_s = time.time() - t0
    from django.db import connections

    connections.close_all()
    deadline = time.time() + opts.duration
    kinds = ["rollup"] + ["evaluate"] * opts.evaluators
    with multiprocessing.get_context("spawn").Pool(len(kinds)) as pool:
        workers = pool.map_async(_loop, [(url, k, deadline) for k in kinds])
        acks = feed(opts.customers, opts.rate, opts.batch, opts.duration)
        results = workers.get()
    events = len(acks) * opts.batch
    evaluators = [r for r in results if r["kind"] == "evaluate"]
    eval_cpu = sum(r["cpu_s"] + r["db_cpu_s"] for r in evaluators)
    evaluated = sum(r["done"] for r in evaluators)
    rollup = next(r for r in results if r["kind"] == "rollup")
    report = {
        "customers": opts.customers,
        "alerts": 3 * opts.customers,
        "build_s": round(built_s, 1),
        "events": events,
        "events_per_s": round(events / opts.duration),
        **limits,
        **measure(acks, opts.customers, opts.batch, limits),
        "customers_evaluated": evaluated,
        "customers_quiet": sum(r["quiet"] for r in evaluators),
        "eval_cpu_s": round(eval_cpu, 2),
        "eval_cpu_ms_per_event": round(1000 * eval_cpu / max(1, events), 4),
        "eval_cpu_ms_per_customer_evaluation": round(1000 * eval_cpu / max(1, evaluated), 3),
        "eval_cpu_s_per_10000_customers": round(10_000 * eval_cpu / max(1, evaluated), 1),
        "rollup_cpu_s": round(rollup["cpu_s"] + rollup["db_cpu_s"], 2),
        "cores": os.cpu_count(),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
