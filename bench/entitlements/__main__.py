"""``bin/tally exec -- python -m bench.entitlements [--quick]``: check and consume over HTTP
(gunicorn, as bench/ingest starts it) and in-process, written to docs/benchmarks.md.

Database ``tally_bench_entitlements`` (dropped and re-created every run) on the server
DATABASE_URL points at: CUSTOMERS customers on one contract each, a metered feature with a
limit far above what the run can use (so every consume is granted and recorded) and a hot
feature shared by all clients of one customer (the worst case: one counter row, one lock).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from datetime import date
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.entitlements.client import Plan, run_client
from bench.ingest import dbs, machine
from bench.ingest.dbs import ROOT
from bench.ingest.servers import Servers, running

DATABASE = "tally_bench_entitlements"
CUSTOMERS = 200
SCENARIOS = (("healthz", "-"), ("check", "tokens"), ("consume", "tokens"), ("consume", "hot"))
START, END = "<!-- entitlements-benchmark:start -->", "<!-- entitlements-benchmark:end -->"


def _setup() -> str:
    dbs.recreate(DATABASE)
    dbs.migrate(DATABASE)
    dbs.django_setup(DATABASE)
    from accounts.models import Customer
    from accounts.services import api_key_create
    from invoicing.entitlements.grants import feature_create, plan_feature_set
    from invoicing.services.catalog import plan_create, plan_version_create
    from invoicing.services.contracts import contract_create

    plan = plan_create(key="bench", name="Bench", currency="USD")
    version = plan_version_create(plan=plan, cadence="monthly", charges=[])
    for key in ("tokens", "hot"):
        feature = feature_create(key=key, name=key, type="metered")
        plan_feature_set(plan_version=version, feature=feature, limit=Decimal(10) ** 12)
    Customer.objects.bulk_create(
        Customer(external_id=f"bench-{i}", name=f"Bench {i}") for i in range(CUSTOMERS)
    )
    for customer in Customer.objects.all():
        contract_create(
            customer=customer, plan_version=version, start_date=date(2026, 1, 1), end_date=None
        )
    return api_key_create(name="bench", scope="ingest").plaintext


def _server_cpu(servers: Servers) -> float:
    """CPU seconds so far of the web workers and of every PostgreSQL process (backends included)."""
    return machine.process_cpu_seconds([servers.web.pid, _postmaster()])


def _postmaster() -> int:
    with dbs.connect(DATABASE) as conn:
        return machine.postmaster_pid(conn)


def _http(servers: Servers, key: str, op: str, feature: str, clients: int, seconds: float) -> dict:
    port = servers.port
    start_at = time.time() + 1.0
    pipes: list[Connection] = []
    procs = []
    for n in range(clients):
        parent, child = multiprocessing.Pipe(duplex=False)
        plan = Plan(port, key, op, feature, CUSTOMERS, n, start_at, seconds)
        proc = multiprocessing.Process(target=run_client, args=(plan, child))
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    time.sleep(max(0.0, start_at - time.time()))
    cpu_before = _server_cpu(servers)
    results = [pipe.recv() for pipe in pipes]
    server_cpu = _server_cpu(servers) - cpu_before
    for proc in procs:
        proc.join(30)
    latencies = sorted(x for r in results for x in r["latencies"])
    wall = max(r["elapsed"] for r in results) or 1.0
    errors: dict[int, int] = {}
    for r in results:
        for code, count in r["errors"].items():
            errors[code] = errors.get(code, 0) + count
    return {
        "op": op,
        "feature": feature,
        "clients": clients,
        "requests": len(latencies),
        "rps": len(latencies) / wall,
        "p50": _pct(latencies, 0.50),
        "p99": _pct(latencies, 0.99),
        "denied": sum(r["denied"] for r in results),
        "errors": errors,
        "server_cpu_ms": 1000 * server_cpu / max(1, len(latencies)),
        "client_cpu_ms": 1000 * sum(r["cpu_s"] for r in results) / max(1, len(latencies)),
    }


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))] * 1000 if values else 0.0


def _in_process(calls: int) -> dict[str, tuple[float, float]]:
    """Median µs per call (CPU of this process, wall) of the services without HTTP."""
    from accounts.models import Customer
    from invoicing.entitlements.services import entitlement_check, entitlement_consume

    customer = Customer.objects.get(external_id="bench-0")
    out: dict[str, tuple[float, float]] = {}
    for name in ("check", "consume"):
        rounds = []
        for r in range(3):
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(calls):
                if name == "check":
                    entitlement_check(customer=customer, feature_key="tokens", amount=Decimal(1))
                else:
                    entitlement_consume(
                        customer=customer,
                        feature_key="tokens",
                        amount=Decimal(1),
                        idempotency_key=f"inproc-{r}-{i}",
                    )
            rounds.append(
                (
                    (time.process_time() - cpu) / calls * 1e6,
                    (time.perf_counter() - wall) / calls * 1e6,
                )
            )
        out[name] = (
            statistics.median(x[0] for x in rounds),
            statistics.median(x[1] for x in rounds),
        )
    return out


def _report(http: list[dict], inproc: dict[str, tuple[float, float]], args: Any) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        START,
        "## Entitlements: check and consume (`bench/entitlements`, issue 18)",
        "",
        f"Machine: {os.cpu_count()} cores, shared (load average at the end: {load}); "
        f"gunicorn {args.web_workers} sync workers, one Celery rollup worker, embedded "
        f"PostgreSQL and Redis on the same cores; {args.duration:g} s per scenario, keep-alive "
        "loopback clients (separate processes). `tokens`: clients spread over "
        f"{CUSTOMERS} customers; `hot`: every request on one customer's counter row.",
        "",
        "`healthz` is the floor: `GET /healthz`, a Django request through the whole middleware "
        "stack that reads nothing, with the same clients. Server CPU = the gunicorn workers and "
        "every PostgreSQL process (its backends, WAL writer, the rollup worker's backend) per "
        "request, from `/proc`; client CPU = the load clients' own, on the same 2 cores. At "
        "2,000 requests/s the machine has 1 ms of CPU per request for all of them.",
        "",
        "| operation | feature | clients | requests | req/s | p50 ms | p99 ms "
        "| server CPU ms / req | client CPU ms / req | denied | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in http:
        lines.append(
            f"| {r['op']} | {r['feature']} | {r['clients']} | {r['requests']} | "
            f"{r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['server_cpu_ms']:.2f} | "
            f"{r['client_cpu_ms']:.2f} | {r['denied']} | {r['errors'] or '-'} |"
        )
    lines += ["", "In-process hot path (services, no HTTP; median of 3 rounds):", ""]
    for name, (cpu, wall) in inproc.items():
        lines.append(f"- `entitlement_{name}`: {cpu:.0f} µs CPU, {wall:.0f} µs wall per call")
    lines += ["", END]
    return "\n".join(lines)


def _write(section: str) -> None:
    path = Path(ROOT) / "docs" / "benchmarks.md"
    text = path.read_text()
    if START in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.duration = 5.0
    key = _setup()
    results = []
    with running(DATABASE, web_workers=args.web_workers, rollup_workers=1) as servers:
        _http(servers, key, "check", "tokens", args.clients, 2.0)  # warm-up, not reported
        for op, feature in SCENARIOS:
            results.append(_http(servers, key, op, feature, args.clients, args.duration))
            print(results[-1], flush=True)
    inproc = _in_process(100 if args.quick else 300)
    print(inproc)
    section = _report(results, inproc, args)
    print(section)
    if not args.no_write:
        _write(section)


if __name__ == "__main__":
    main()
