"""The ``journal_entries`` dataset (registered by the revenue app): written by ``manage.py
export`` as CSV and Parquet and served by ``/api/v1/exports``; read back, every entry
balances and the totals equal the journal's and the API's."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.db.models import Sum

from billingsite.exports import dataset_named
from revenue.models import JournalLine
from revenue.services.recognition import post_pending
from tests.revenue.builders import at, contract_for, invoice_with, payment

pytestmark = pytest.mark.django_db


@pytest.fixture
def journal() -> None:
    invoice = invoice_with(
        contract_for(),
        [
            {"kind": "fixed", "amount": "1200.00", "charge_key": "platform"},
            {"kind": "tax", "amount": "96.00", "charge_key": "tax"},
        ],
        issued=at(2026, 1, 15),
        start=date(2026, 1, 15),
        end=date(2027, 1, 15),
    )
    payment(invoice, "1296.00", at(2026, 1, 20))
    post_pending(today=date(2026, 3, 31))


def per_entry(rows: list[dict[str, Any]]) -> dict[Any, tuple[Decimal, Decimal]]:
    sums: dict[Any, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for row in rows:
        sums[str(row["entry_id"])][0] += Decimal(row["debit"])
        sums[str(row["entry_id"])][1] += Decimal(row["credit"])
    return {k: (d, c) for k, (d, c) in sums.items()}


def assert_balanced_and_complete(rows: list[dict[str, Any]]) -> None:
    assert len(rows) == JournalLine.objects.count() > 0
    for entry_id, (debit, credit) in per_entry(rows).items():
        assert debit == credit, entry_id
    totals = JournalLine.objects.aggregate(d=Sum("debit"), c=Sum("credit"))
    assert sum(Decimal(r["debit"]) for r in rows) == totals["d"]
    assert sum(Decimal(r["credit"]) for r in rows) == totals["c"]


def test_registered_from_the_revenue_app() -> None:
    dataset = dataset_named("journal_entries")
    assert dataset is not None and dataset.owner == "revenue"
    assert {"date", "account", "debit", "credit", "currency"} <= set(dataset.column_names)


def test_the_command_writes_csv_and_parquet_that_balance(
    journal: None, tmp_path: Path, settings: Any, read_api: Any
) -> None:
    settings.REPORTING_EXPORT_LAG_SECONDS = 0
    call_command("export", dataset="journal_entries", format="csv", out=str(tmp_path / "c"))
    call_command("export", dataset="journal_entries", format="parquet", out=str(tmp_path / "p"))
    (csv_file,) = (tmp_path / "c" / "journal_entries").glob("*.csv")
    with open(csv_file, newline="", encoding="utf-8") as handle:
        csv_rows = list(csv.DictReader(handle))
    (parquet_file,) = (tmp_path / "p" / "journal_entries").glob("*.parquet")
    table = pq.read_table(parquet_file)
    assert str(table.schema.field("date").type) == "date32[day]"
    parquet_rows = table.to_pylist()
    assert_balanced_and_complete(csv_rows)
    assert_balanced_and_complete(parquet_rows)
    tax = [r for r in parquet_rows if r["account"] == "tax_payable"]
    assert [(r["credit"], r["currency"]) for r in tax] == [("96.00", "USD")]

    api_rows, url = [], "/api/v1/exports/journal_entries?limit=3"
    while url:
        body = read_api.get(url).json()
        api_rows.extend(body["results"])
        url = body["next"]
    assert_balanced_and_complete(api_rows)
    assert [r["id"] for r in api_rows] == [r["id"] for r in parquet_rows]
    assert [r["debit"] for r in api_rows] == [r["debit"] for r in csv_rows]
