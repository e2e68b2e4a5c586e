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


def _run_shard(args: tuple[str, list[int], str]) -> dict[str, int]:
    database_url, ids, now = args
    setup_django(database_url)
    from django.db import connection

    from invoicing.services.billing import billing_run

    queries = [0]

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        queries[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        result = billing_run(now=datetime.fromisoformat(now), contract_ids=ids)
    return {
        "drafted": result.drafted,
        "refreshed": result.refreshed,
        "finalized": result.finalized,
        "failed": len(result.failed),
        "queries": queries[0],
    }


def timed_phase(database_url: str, ids: list[int], now: datetime, workers: int) -> dict:
    from django.db import connections

    connections.close_all()
    shards = [ids[i::workers] for i in range(workers)]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        results = pool.map(_run_shard, [(database_url, s, now.isoformat()) for s in shards])
    seconds = time.perf_counter() - started
    totals = {key: sum(r[key] for r in results) for key in results[0]}
    totals["queries_per_invoice"] = round(totals.pop("queries") / max(1, len(ids)), 1)
    return {
        "seconds": round(seconds, 2),
        "load_average": os.getloadavg()[0],
        "ms_per_invoice": round(1000 * seconds * workers / max(1, len(ids)), 2),
        **totals,
    }


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
    args = parser.parse_args()
    database_url = _bench_database(os.environ["DATABASE_URL"])
    setup_django(database_url)
    started = time.perf_counter()
    ids = build(args.customers, args.charges, args.hours, args.months)
    report = {
        "customers": args.customers,
        "charges": args.charges,
        "hours": args.hours,
        "workers": args.workers,
        "setup_seconds": round(time.perf_counter() - started, 1),
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
            database_url, ids, end + timedelta(minutes=5), args.workers
        )
        print(
            f"[bench] month {month + 1}: finalizing after the grace period",
            file=sys.stderr,
            flush=True,
        )
        report["finalize" + suffix] = timed_phase(
            database_url, ids, end + timedelta(days=1, minutes=10), args.workers
        )
    from invoicing.models import Invoice

    report["invoices"] = Invoice.objects.count()
    report["finalized"] = Invoice.objects.filter(status="finalized").count()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
