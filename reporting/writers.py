"""Write one dataset window to one CSV or Parquet file, in batches (never the whole table in
memory), atomically: into a hidden temporary file in the target folder, then renamed.

CSV: a header row of the column names, then one row per record; nulls are empty fields, times
ISO 8601 in UTC (``2026-01-31T23:59:59.123456+00:00``), dates ``YYYY-MM-DD``, booleans
``true``/``false``, money and quantities decimal strings. Parquet: one row group per batch,
the Arrow types of the registry (times ``timestamp[us, tz=UTC]``), and the dataset's name and
version in the schema metadata."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from billingsite.exports import BOOL, DATE, INT64, STRING, TIMESTAMP, Dataset, Key, Row

FORMATS = ("csv", "parquet")
BATCH_ROWS = 5000

_ARROW = {
    STRING: pa.string(),
    INT64: pa.int64(),
    BOOL: pa.bool_(),
    DATE: pa.date32(),
    TIMESTAMP: pa.timestamp("us", tz="UTC"),
}


def arrow_schema(dataset: Dataset) -> pa.Schema:
    fields = [
        pa.field(col.name, _ARROW[col.type], nullable=col.nullable) for col in dataset.columns
    ]
    meta = {"tally.dataset": dataset.name, "tally.version": str(dataset.version)}
    return pa.schema(fields, metadata=meta)


def batches(
    dataset: Dataset,
    *,
    since: datetime | None,
    until: datetime | None,
    after: Key | None,
    size: int = BATCH_ROWS,
) -> Iterator[list[tuple[Key, Row]]]:
    """Pages of ``size`` rows in key order until the window is exhausted."""
    while True:
        page = dataset.page(since=since, until=until, after=after, limit=size)
        if page:
            yield page
        if len(page) < size:
            return
        after = page[-1][0]


@dataclass(frozen=True)
class Written:
    path: Path
    rows: int
    last_key: Key | None


def file_name(dataset: Dataset, fmt: str, stamp: datetime) -> str:
    return f"{dataset.name}-{stamp.astimezone(UTC):%Y%m%dT%H%M%S%fZ}.{fmt}"


def write_file(
    dataset: Dataset,
    fmt: str,
    out_dir: Path,
    *,
    stamp: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    after: Key | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Written:
    """Write ``<out_dir>/<dataset>/<dataset>-<stamp>.<fmt>`` and return what was written."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown format {fmt!r}; use {', '.join(FORMATS)}.")
    folder = out_dir / dataset.name
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / file_name(dataset, fmt, stamp)
    for n in range(2, 1000):  # two runs with the same stamp never overwrite each other
        if not final.exists():
            break
        final = folder / file_name(dataset, fmt, stamp).replace(f".{fmt}", f"-{n}.{fmt}")
    temp = folder / f".{final.name}.tmp"
    pages = batches(dataset, since=since, until=until, after=after, size=batch_rows)
    try:
        if fmt == "csv":
            rows, last = _write_csv(dataset, temp, pages)
        else:
            rows, last = _write_parquet(dataset, temp, pages)
        os.replace(temp, final)
    finally:
        temp.unlink(missing_ok=True)
    return Written(final, rows, last)


def _write_parquet(
    dataset: Dataset, temp: Path, pages: Iterator[list[tuple[Key, Row]]]
) -> tuple[int, Key | None]:
    schema = arrow_schema(dataset)
    rows, last = 0, None
    with pq.ParquetWriter(temp, schema) as writer:
        for page in pages:
            batch = pa.RecordBatch.from_pylist([row for _, row in page], schema=schema)
            writer.write_batch(batch)
            rows, last = rows + len(page), page[-1][0]
    _fsync(temp)
    return rows, last


def csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _write_csv(
    dataset: Dataset, temp: Path, pages: Iterator[list[tuple[Key, Row]]]
) -> tuple[int, Key | None]:
    names = dataset.column_names
    rows, last = 0, None
    with open(temp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(names)
        for page in pages:
            writer.writerows([csv_value(row.get(name)) for name in names] for _, row in page)
            rows, last = rows + len(page), page[-1][0]
        _flush(handle)
    return rows, last


def _flush(handle: IO[str]) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
