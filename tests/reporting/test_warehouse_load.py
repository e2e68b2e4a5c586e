"""The README's warehouse walkthrough works: DuckDB reads the Parquet folder that the exports
write, and its totals equal the invoices'."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from django.core.management import call_command

from invoicing.models import Invoice
from tests.reporting.conftest import World

pytestmark = pytest.mark.django_db


def test_duckdb_loads_the_parquet_folder(world: World, tmp_path: Path) -> None:
    call_command("export", dataset="all", format="parquet", out=str(tmp_path))
    call_command("export", dataset="invoices", format="parquet", out=str(tmp_path))  # again
    folder = tmp_path.as_posix()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        """CREATE TABLE invoices AS
        SELECT * FROM read_parquet($files)
        QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC) = 1""",
        {"files": f"{folder}/invoices/*.parquet"},
    )
    rows = con.execute(
        # The README's query; strftime only because fetching a TIMESTAMPTZ needs pytz.
        """SELECT currency, strftime(date_trunc('month', period_start), '%Y-%m') AS month,
               sum(CAST(total AS DECIMAL(24, 4))) AS invoiced
        FROM invoices WHERE status <> 'void' GROUP BY ALL ORDER BY month, currency"""
    ).fetchall()
    expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for invoice in Invoice.objects.exclude(status__in=["draft", "void"]):
        expected[(invoice.currency, f"{invoice.period_start:%Y-%m}")] += invoice.total.amount
    assert {(c, m): Decimal(v) for c, m, v in rows} == dict(expected)
    # Two files hold every invoice twice; the load keeps one row per id.
    issued = Invoice.objects.exclude(status="draft").count()
    raw = con.execute("SELECT count(*) FROM read_parquet(?)", [f"{folder}/invoices/*.parquet"])
    assert raw.fetchone() == (2 * issued,)
    assert con.execute("SELECT count(*) FROM invoices").fetchone() == (issued,)
    usage = con.execute(
        "SELECT sum(CAST(value AS DECIMAL(38, 12))) FROM read_parquet(?)",
        [f"{folder}/usage_daily/*.parquet"],
    ).fetchone()
    assert usage == (Decimal(6),)  # the six events of the world
