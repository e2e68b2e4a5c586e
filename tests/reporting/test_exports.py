"""Exports: every dataset in both formats, read back with pyarrow and csv, equals the API's
pages and the invoices; the nightly export is incremental; the doc matches the registry."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from billingsite.exports import registered_datasets
from invoicing.models import Invoice
from invoicing.services.invoices import invoice_mark_paid
from reporting.models import ExportCursor
from reporting.schema_doc import current_section, doc_path, schemas_markdown
from reporting.services import dataset_or_error, export_incremental
from reporting.writers import arrow_schema, write_file
from tests.factories import CustomerFactory
from tests.reporting.conftest import NOW, World

pytestmark = pytest.mark.django_db

NAMES = [
    "contracts",
    "credit_ledger",
    "credit_notes",
    "customers",
    "disputes",
    "invoice_lines",
    "invoices",
    "journal_entries",
    "payments",
    "refunds",
    "usage_daily",
]


def read_parquet(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist()


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def api_rows(client: Any, name: str, limit: int = 2) -> list[dict[str, Any]]:
    rows, url = [], f"/api/v1/exports/{name}?limit={limit}"
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        rows.extend(body["results"])
        url = body["next"]
    return rows


def money_totals(rows: list[dict[str, Any]], column: str) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        totals[row["currency"]] += Decimal(row[column])
    return dict(totals)


def test_every_dataset_is_registered_with_a_valid_schema() -> None:
    assert [d.name for d in registered_datasets()] == NAMES
    for dataset in registered_datasets():
        schema = arrow_schema(dataset)
        assert schema.names == dataset.column_names
        assert schema.metadata[b"tally.dataset"] == dataset.name.encode()


def test_files_in_both_formats_equal_the_api_and_the_invoices(
    world: World, read_api: Any, tmp_path: Path
) -> None:
    from revenue.services.recognition import post_pending

    post_pending(today=NOW)  # the revenue app's journal_entries dataset needs a journal
    for name in NAMES:
        dataset = dataset_or_error(name)
        parquet = write_file(dataset, "parquet", tmp_path, stamp=NOW, batch_rows=2)
        csv_file = write_file(dataset, "csv", tmp_path, stamp=NOW, batch_rows=3)
        from_parquet, from_csv = read_parquet(parquet.path), read_csv(csv_file.path)
        from_api = api_rows(read_api, name)
        assert len(from_parquet) == len(from_csv) == len(from_api) == parquet.rows > 0, name
        assert list(from_csv[0]) == dataset.column_names
        assert pq.ParquetFile(parquet.path).metadata.num_row_groups == -(-parquet.rows // 2)
        for col in dataset.columns:
            if col.is_money:
                assert money_totals(from_parquet, col.name) == money_totals(from_csv, col.name)
                assert money_totals(from_api, col.name) == money_totals(from_csv, col.name)
        # Same rows, same order, same values in the three spellings.
        for p_row, c_row, a_row in zip(from_parquet, from_csv, from_api, strict=True):
            for col in dataset.columns:
                assert _csv_text(p_row[col.name]) == c_row[col.name] == _csv_text(a_row[col.name])

    issued = Invoice.objects.exclude(status="draft")
    invoices = read_parquet(next((tmp_path / "invoices").glob("*.parquet")))
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for invoice in issued:
        expected[invoice.currency] += invoice.total.amount
    assert money_totals(invoices, "total") == dict(expected)
    assert {r["number"] for r in invoices} == {i.number for i in issued}
    lines = read_csv(next((tmp_path / "invoice_lines").glob("*.csv")))
    assert money_totals(lines, "amount") == dict(expected)  # the lines add up to the totals


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value.endswith("+00:00"):
        return value
    return str(value)


def test_types_money_and_times(world: World, tmp_path: Path) -> None:
    path = write_file(dataset_or_error("invoices"), "parquet", tmp_path, stamp=NOW).path
    table = pq.read_table(path)
    assert table.schema.field("issued_at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("total").type == pa.string()
    row = next(r for r in table.to_pylist() if r["number"] == world.open_invoice.number)
    assert row["total"] == f"{world.open_invoice.total.amount:.2f}"
    assert row["issued_at"] == world.open_invoice.issued_at
    assert row["customer"] == "acme"


def test_usage_daily_is_per_customer_meter_group_and_utc_day(world: World, tmp_path: Path) -> None:
    path = write_file(dataset_or_error("usage_daily"), "csv", tmp_path, stamp=NOW).path
    rows = [(r["day"], r["customer"], r["meter"], r["group"], r["value"]) for r in read_csv(path)]
    assert rows == [
        ("2026-11-08", "beta", "calls", '{"region": "eu"}', "1"),
        ("2026-11-08", "beta", "calls", '{"region": "us"}', "1"),
        ("2026-11-09", "acme", "calls", '{"region": "ap"}', "1"),
        ("2026-11-09", "acme", "calls", '{"region": "eu"}', "2"),
        ("2026-11-09", "acme", "calls", '{"region": "us"}', "1"),
    ]
    # Only whole days: a window ending mid-day leaves that day out.
    until = datetime(2026, 11, 9, 12, tzinfo=UTC)
    part = write_file(
        dataset_or_error("usage_daily"), "csv", tmp_path / "p", stamp=NOW, until=until
    )
    assert {r["day"] for r in read_csv(part.path)} == {"2026-11-08"}


def test_since_until_bound_the_cursor_time(world: World, tmp_path: Path) -> None:
    dataset = dataset_or_error("invoices")
    future = write_file(dataset, "csv", tmp_path, stamp=NOW, since=NOW + timedelta(days=1))
    assert future.rows == 0 and read_csv(future.path) == []
    everything = write_file(dataset, "csv", tmp_path / "all", stamp=NOW, until=NOW + timedelta(1))
    assert everything.rows == Invoice.objects.exclude(status="draft").count()


def test_the_nightly_export_writes_only_new_and_changed_rows(world: World, tmp_path: Path) -> None:
    invoices, customers = dataset_or_error("invoices"), dataset_or_error("customers")
    first_run = NOW + timedelta(hours=1)
    for dataset in (invoices, customers):
        first = export_incremental(dataset=dataset, out_dir=tmp_path, fmt="parquet", now=first_run)
        assert first.written is not None and first.written.rows == 2
    with time_machine.travel(NOW + timedelta(hours=2), tick=False):
        invoice_mark_paid(invoice=world.open_invoice, now=timezone.now())
        newcomer = CustomerFactory(external_id="gamma")
    # A run whose window ends before the changes (the lag) writes an empty file.
    again = export_incremental(dataset=invoices, out_dir=tmp_path, fmt="parquet", now=first_run)
    assert again.written is not None and again.written.rows == 0
    second_run = NOW + timedelta(hours=3)
    second = export_incremental(dataset=invoices, out_dir=tmp_path, fmt="parquet", now=second_run)
    assert second.written is not None
    rows = read_parquet(second.written.path)
    assert [(r["number"], r["status"]) for r in rows] == [(world.open_invoice.number, "paid")]
    new = export_incremental(dataset=customers, out_dir=tmp_path, fmt="parquet", now=second_run)
    assert new.written is not None
    assert [r["external_id"] for r in read_parquet(new.written.path)] == [newcomer.external_id]
    files = sorted((tmp_path / "invoices").glob("*.parquet"))
    assert len(files) == 3 and not list((tmp_path / "invoices").glob(".*"))  # no temp left
    cursor = ExportCursor.objects.get(dataset="invoices", format="parquet")
    assert cursor.total_rows == 3 and cursor.last_rows == 1
    assert cursor.last_file == str(second.written.path)


def test_a_failed_write_leaves_no_file_and_the_cursor_unmoved(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = dataset_or_error("customers")
    import reporting.writers as writers

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(writers, "_write_parquet", broken)
    with pytest.raises(OSError):
        export_incremental(dataset=dataset, out_dir=tmp_path, fmt="parquet", now=NOW)
    assert list((tmp_path / "customers").iterdir()) == []
    assert ExportCursor.objects.get(dataset="customers").position is None


def test_the_command_writes_every_dataset(world: World, tmp_path: Path, settings: Any) -> None:
    settings.REPORTING_EXPORT_LAG_SECONDS = 0
    call_command("export", dataset="all", format="csv", out=str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == NAMES
    call_command("export", dataset="refunds", format="parquet", out=str(tmp_path), incremental=True)
    (refunds,) = (tmp_path / "refunds").glob("*.parquet")
    assert [r["amount"] for r in read_parquet(refunds)] == ["1.50"]


def test_api_lists_schemas_and_refuses_bad_cursors(world: World, read_api: Any) -> None:
    listing = read_api.get("/api/v1/exports").json()["results"]
    assert [d["name"] for d in listing] == NAMES
    invoices = next(d for d in listing if d["name"] == "invoices")
    total = next(c for c in invoices["columns"] if c["name"] == "total")
    assert total == {
        "name": "total",
        "type": "string",
        "description": total["description"],
        "nullable": False,
        "currency_column": "currency",
    }
    assert read_api.get("/api/v1/exports/nope").status_code == 404
    bad = read_api.get("/api/v1/exports/invoices?cursor=bm90LWEtY3Vyc29y")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"
    page = read_api.get("/api/v1/exports/invoices?limit=1").json()
    other = page["next"].split("cursor=")[1]
    assert read_api.get(f"/api/v1/exports/payments?cursor={other}").status_code == 400


def test_the_doc_lists_every_schema_of_the_registry() -> None:
    text = doc_path().read_text(encoding="utf-8")
    assert current_section(text) == schemas_markdown(), "run manage.py export_schema_doc"


def test_the_nightly_task_exports_every_dataset_into_the_configured_folder(
    world: World, tmp_path: Path, settings: Any
) -> None:
    from reporting.tasks import exports_nightly

    settings.REPORTING_EXPORT_DIR = ""
    assert exports_nightly() == 0 and not ExportCursor.objects.exists()  # off when empty
    settings.REPORTING_EXPORT_DIR = str(tmp_path)
    settings.REPORTING_EXPORT_FORMATS = ["parquet", "csv"]
    settings.REPORTING_EXPORT_LAG_SECONDS = 0
    first = exports_nightly()
    per_format = sum(len(read_csv(p)) for p in tmp_path.glob("*/*.csv"))
    assert first == 2 * per_format and per_format > 0
    assert ExportCursor.objects.count() == 2 * len(NAMES)
    assert exports_nightly() == 0  # nothing new: the second run writes empty files
    assert len(list(tmp_path.glob("invoices/*.parquet"))) == 2
