"""Benchmark: the billing run for many customers with several usage charges read from rollups.

    bin/tally exec -- python bench/billing.py --customers 10000 --charges 5 --workers 2
    bin/tally exec -- python bench/billing.py --customers 10000 --hours 31 --months 2

Builds a throw-away database (``<dev db>_bench_billing``) next to the one in DATABASE_URL:
N customers on one plan with ``--charges`` usage charges (per-unit and graduated, alternating)
plus a platform fee, one meter per charge, and hourly rollups for October 2026 (and the
following months with ``--months``; ``--hours`` rows per customer, meter and month). Then it
times the two phases of each month's run as beat would trigger them:

- draft: 00:05 after the period ends; every contract gets its draft, rated from rollups;
- finalize: after the 24 h grace; every draft is recomputed, numbered and rendered to PDF.

Each phase runs ``--workers`` processes, each billing a shard of the contracts (as parallel
Celery tasks would). Prints one JSON line with the timings.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from datetime import UTC, date, datetime, timedelta
from inspect import signature
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _bench_database(url: str, suffix: str = "_bench_billing") -> str:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/") + suffix
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def _libpq(url: str) -> str:
    """psycopg wants the socket directory as ``host=``; dj-database-url style URLs encode it
    in the netloc."""
    import dj_database_url

    cfg = dj_database_url.parse(url)
    return (
        f"dbname={cfg['NAME']} user={cfg['USER']} host={cfg['HOST']}"
        + (f" port={cfg['PORT']}" if cfg.get("PORT") else "")
        + (f" password={cfg['PASSWORD']}" if cfg.get("PASSWORD") else "")
    )


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billingsite.settings")
    os.environ.setdefault("MEDIA_ROOT", "/tmp/tally-bench-media")
    import django

    django.setup()


def build(customers: int, charges: int, hours: int, months: int = 1) -> list[int]:
    from django.core.management import call_command
    from django.db import connection

    from accounts.models import Customer
    from invoicing.models import Contract
    from invoicing.services.catalog import plan_create, plan_version_create
    from metering.models import MeterVersion
    from metering.services import meter_create

    call_command("migrate", verbosity=0)
    specs = []
    for i in range(charges):
        meter_create(
            key=f"m{i}",
            name=f"Meter {i}",
            event_type=f"type{i}",
            aggregation="sum",
            value_property="n",
        )
        price = (
            {"model": "per_unit", "unit_amount": "0.0015"}
            if i % 2 == 0
            else {
                "model": "graduated",
                "tiers": [
                    {"up_to": "1000", "unit_amount": "0.01"},
                    {"up_to": None, "unit_amount": "0.004"},
                ],
            }
        )
        specs.append(
            {
                "key": f"c{i}",
                "name": f"Usage {i}",
                "kind": "usage",
                "meter_key": f"m{i}",
                "price": price,
            }
        )
    plan = plan_create(key="bench", name="Bench")
    version = plan_version_create(
        plan=plan,
        charges=[
            {
                "key": "fee",
                "name": "Platform",
                "kind": "fixed",
                "price": {"model": "flat", "amount": "99.00"},
            },
            *specs,
        ],
    )
    Customer.objects.bulk_create(
        [
            Customer(external_id=f"bench-{n}", name=f"Bench {n}", currency="USD")
            for n in range(customers)
        ],
        batch_size=5000,
    )
    Contract.objects.bulk_create(
        [
            Contract(
                customer=c,
                plan_version=version,
                start_date=date(2026, 10, 1),
                billing_anchor_day=1,
                timezone="UTC",
            )
            for c in Customer.objects.all()
        ],
        batch_size=5000,
    )
    version_ids = list(MeterVersion.objects.values_list("pk", flat=True))
    step = max(1, 744 // hours)
    with connection.cursor() as cursor:
        for month in range(months):
            first = _month_start(month)
            last_hour = int((_month_start(month + 1) - first).total_seconds() // 3600) - 1
            cursor.execute(
                "INSERT INTO metering_hourlyrollup (meter_version_id, customer_id, hour,"
                " group_values, value, event_count)"
                " SELECT v, c.id, %s::timestamptz + make_interval(hours => h),"
                " '[]'::jsonb, ((c.id * 7 + h + %s) %% 50)::numeric, 1"
                " FROM accounts_customer c CROSS JOIN unnest(%s::bigint[]) v"
                " CROSS JOIN generate_series(0, %s, %s) h",
                [first, month, version_ids, last_hour, step],
            )
        cursor.execute("ANALYZE")
    return list(Contract.objects.order_by("pk").values_list("pk", flat=True))


def _month_start(month: int) -> datetime:
    """October 2026 is month 0; the run for month m happens at the start of month m + 1."""
    year, index = divmod(9 + month, 12)
    return datetime(2026 + year, index + 1, 1, tzinfo=UTC)


def _run_shard(args: tuple[str, list[int], str, bool, int | None]) -> dict[str, float]:
    database_url, ids, now, show, batch = args
    setup_django(database_url)
    from django.conf import settings
    from django.db import connection

    if batch is not None:  # drafts finalized per transaction (1: one by one, as before)
        settings.INVOICING_FINALIZE_BATCH = batch

    from invoicing.services.billing import billing_run

    queries: dict[str, int] = {}

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        shape = " ".join(sql.split())[:150]
        queries[shape] = queries.get(shape, 0) + 1
        return execute(sql, params, many, context)

    backend = _backend_pid()
    before, backend_before = _cpu_seconds(os.getpid()), _cpu_seconds(backend)
    # The PDFs are the PDF task's work (timed on their own, below); a tree without that task
    # renders them while finalizing, as before.
    deferred = {"defer_pdfs": True} if "defer_pdfs" in signature(billing_run).parameters else {}
    with connection.execute_wrapper(count):
        result = billing_run(now=datetime.fromisoformat(now), contract_ids=ids, **deferred)
    python_cpu = _cpu_seconds(os.getpid()) - before
    backend_cpu = _cpu_seconds(backend) - backend_before
    if show:
        for shape, n in sorted(queries.items(), key=lambda item: -item[1])[:40]:
            print(f"[queries] {n:6d}  {shape}", file=sys.stderr)
    return {
        "drafted": result.drafted,
        "refreshed": result.refreshed,
        "finalized": result.finalized,
        "failed": len(result.failed),
        "queries": sum(queries.values()),
        "python_cpu": python_cpu,
        "backend_cpu": backend_cpu,
        "finalized_ids": getattr(result, "finalized_ids", []),
    }


def _run_pdfs(args: tuple[str, list[int]]) -> dict[str, float]:
    """The PDF task's work for a shard of the finalized invoices (off the finalize path)."""
    database_url, ids = args
    setup_django(database_url)

    from invoicing.services.invoice_pdfs import invoice_pdfs_store

    backend = _backend_pid()
    before, backend_before = _cpu_seconds(os.getpid()), _cpu_seconds(backend)
    stored = invoice_pdfs_store(ids)
    return {
        "rendered": stored,
        "python_cpu": _cpu_seconds(os.getpid()) - before,
        "backend_cpu": _cpu_seconds(backend) - backend_before,
    }


def _backend_pid() -> int:
    """The PostgreSQL backend serving this process's connection (its CPU is read from /proc
    before and after, so other work on the same server is not counted)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def _cpu_seconds(pid: int, *, children: bool = False) -> float:
    """User + system CPU of a process from /proc (with ``children``: plus the CPU of the
    children it has reaped, which is how exited PostgreSQL backends are still counted)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _postgres_cpu(postmaster: int) -> float:
    """CPU of the PostgreSQL server so far: the postmaster, its reaped backends and every
    live child (backends, WAL writer, checkpointer, autovacuum)."""
    total = _cpu_seconds(postmaster, children=True)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == postmaster:
            try:
                total += _cpu_seconds(int(entry.name))
            except OSError:
                continue
    return total


def _postmaster_pid() -> int:
    backend = _backend_pid()
    stat = Path(f"/proc/{backend}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def _pool_map(workers: int, func, jobs: list) -> tuple[list[dict], float, float]:  # type: ignore[no-untyped-def,type-arg]
    """Run ``jobs`` on ``workers`` processes: (results, wall seconds, PostgreSQL CPU seconds)."""
    from django.db import connections

    postmaster = _postmaster_pid()
    connections.close_all()
    pg_before = _postgres_cpu(postmaster)
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        results = pool.map(func, jobs)
    seconds = time.perf_counter() - started
    time.sleep(0.2)  # let the postmaster reap the workers' backends
    return results, seconds, _postgres_cpu(postmaster) - pg_before


def timed_phase(
    database_url: str,
    ids: list[int],
    now: datetime,
    workers: int,
    show: bool = False,
    pdfs: bool = True,
    batch: int | None = None,
) -> dict:
    shards = [ids[i::workers] for i in range(workers)]
    jobs = [
        (database_url, s, now.isoformat(), show and n == 0, batch) for n, s in enumerate(shards)
    ]
    results, seconds, pg_cpu = _pool_map(workers, _run_shard, jobs)
    finalized_ids = sorted(pk for r in results for pk in r.pop("finalized_ids"))
    totals = {key: sum(r[key] for r in results) for key in results[0]}
    done = max(1, totals["drafted"] + totals["refreshed"] + totals["finalized"])
    python_cpu, backend_cpu = totals.pop("python_cpu"), totals.pop("backend_cpu")
    totals["queries_per_invoice"] = round(totals.pop("queries") / done, 2)
    report = {
        "seconds": round(seconds, 2),
        "load_average": round(os.getloadavg()[0], 2),
        **_cpu_figures(python_cpu, backend_cpu, pg_cpu, done),
        **totals,
    }
    if finalized_ids and pdfs:
        report["pdf"] = timed_pdfs(database_url, finalized_ids, workers)
    print(f"[bench] {json.dumps(report)}", file=sys.stderr, flush=True)
    return report


def timed_pdfs(database_url: str, ids: list[int], workers: int) -> dict:
    """Render the PDFs the finalize phase left to the PDF task (as parallel tasks would)."""
    shards = [ids[i::workers] for i in range(workers)]
    results, seconds, pg_cpu = _pool_map(workers, _run_pdfs, [(database_url, s) for s in shards])
    rendered = sum(int(r["rendered"]) for r in results)
    python_cpu = sum(r["python_cpu"] for r in results)
    backend_cpu = sum(r["backend_cpu"] for r in results)
    return {
        "seconds": round(seconds, 2),
        "rendered": rendered,
        **_cpu_figures(python_cpu, backend_cpu, pg_cpu, max(1, rendered)),
    }


def _cpu_figures(python: float, backends: float, server: float, invoices: int) -> dict:
    """CPU ms per invoice: the workers, their PostgreSQL backends (exact even when the server
    does other work), and the whole server meanwhile (adds WAL writer, checkpointer,
    autovacuum, but also anything else the server runs)."""
    return {
        "cpu_ms_per_invoice": round(1000 * (python + backends) / invoices, 2),
        "python_cpu_ms_per_invoice": round(1000 * python / invoices, 2),
        "backend_cpu_ms_per_invoice": round(1000 * backends / invoices, 2),
        "server_cpu_ms_per_invoice": round(1000 * server / invoices, 2),
    }


# The benchmark writes rollups without raw events (generating 100,000 customers' events would
# dominate the set-up), so the rollup-recomputation check cannot hold here by construction.
NOT_APPLICABLE = {"metering.rollups_match_raw_events"}


def _invariants() -> str:
    """Every ``check_invariants`` check that applies here: "clean" or what broke."""
    from billingsite.invariants import registered_checks, run_check

    broken = []
    checks = [c for c in registered_checks() if c.name not in NOT_APPLICABLE]
    for check in checks:
        violations = list(run_check(check, limit=3))
        if violations:
            broken.append(
                f"{check.name}: " + "; ".join(f"{v.subject}: {v.detail}" for v in violations)
            )
    if broken:
        return "BROKEN: " + " | ".join(broken)[:1500]
    return f"clean ({len(checks)} checks; skipped: {', '.join(sorted(NOT_APPLICABLE))})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--charges", type=int, default=5)
    parser.add_argument("--hours", type=int, default=744, help="rollup rows per customer-meter")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--months",
        type=int,
        default=1,
        help="bill this many months in a row (from October 2026); from the "
        "second on, each invoice also checks the issued one before it "
        "for late usage",
    )
    parser.add_argument(
        "--show-queries",
        action="store_true",
        help="print the most frequent statement shapes of one worker per phase",
    )
    parser.add_argument(
        "--no-pdf-phase",
        action="store_true",
        help="leave the finalized invoices' PDFs unrendered (the PDF task's work) to save time",
    )
    parser.add_argument(
        "--finalize-batch",
        type=int,
        default=None,
        help="drafts finalized per transaction (INVOICING_FINALIZE_BATCH; 1 = one by one, "
        "the path before batched finalization); default: the setting",
    )
    args = parser.parse_args()
    database_url = _bench_database(
        os.environ["DATABASE_URL"], suffix=f"_bench_billing_{args.customers}"
    )
    setup_django(database_url)
    started = time.perf_counter()
    ids = build(args.customers, args.charges, args.hours, args.months)
    report = {
        "customers": args.customers,
        "charges": args.charges,
        "hours": args.hours,
        "workers": args.workers,
        "finalize_batch": args.finalize_batch,
        "setup_seconds": round(time.perf_counter() - started, 1),
        "load_average_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    for month in range(args.months):
        end = _month_start(month + 1)
        suffix = "" if month == 0 else f"_month{month + 1}"
        print(
            f"[bench] month {month + 1}: drafting at {end:%Y-%m-%d} 00:05",
            file=sys.stderr,
            flush=True,
        )
        report["draft" + suffix] = timed_phase(
            database_url, ids, end + timedelta(minutes=5), args.workers, args.show_queries
        )
        print(
            f"[bench] month {month + 1}: finalizing after the grace period",
            file=sys.stderr,
            flush=True,
        )
        report["finalize" + suffix] = timed_phase(
            database_url,
            ids,
            end + timedelta(days=1, minutes=10),
            args.workers,
            args.show_queries,
            not args.no_pdf_phase,
            args.finalize_batch,
        )
    from invoicing.models import Invoice

    report["invoices"] = Invoice.objects.count()
    report["finalized"] = Invoice.objects.filter(status="finalized").count()
    report["invariants"] = _invariants()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
