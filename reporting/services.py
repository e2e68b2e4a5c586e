"""The incremental export: per dataset, format and folder, write the rows after the stored
cursor into one new file, then move the cursor.

Invariants:
- one run at a time per (dataset, folder, format): the cursor row is locked for the run; a
  second run meanwhile skips instead of writing the same rows twice;
- the cursor moves only after the file is in place (renamed), in the transaction that holds the
  lock; a run that fails leaves no file and the cursor where it was. A crash between the rename
  and the commit leaves a file whose rows the next run writes again (at least once: load by
  ``id`` keeping the latest ``updated_at``, as for changed rows);
- rows are read up to ``now - REPORTING_EXPORT_LAG_SECONDS``, so a row whose transaction
  committed late with an earlier ``updated_at`` is still ahead of the cursor;
- a dataset whose schema version changed starts again from the beginning (a full file).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billingsite.errors import AppError
from billingsite.exports import Dataset, dataset_named, decode_key, encode_key, registered_datasets
from reporting.models import ExportCursor
from reporting.writers import FORMATS, Written, write_file

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    dataset: str
    format: str
    written: Written | None  # None: skipped (another run holds the cursor)


def dataset_or_error(name: str) -> Dataset:
    dataset = dataset_named(name)
    if dataset is None:
        known = ", ".join(d.name for d in registered_datasets())
        raise AppError(
            "unknown_dataset",
            f"No dataset named {name!r}.",
            details={"dataset": known},
            status_code=404,
        )
    return dataset


def export_incremental(
    *, dataset: Dataset, out_dir: Path, fmt: str, now: datetime | None = None
) -> RunResult:
    """Write the rows after the cursor of (dataset, out_dir, fmt) into one file."""
    if fmt not in FORMATS:
        raise AppError(
            "validation_error", f"Unknown format {fmt!r}.", details={"format": "csv, parquet"}
        )
    now = now or timezone.now()
    until = now - timedelta(seconds=settings.REPORTING_EXPORT_LAG_SECONDS)
    destination = str(out_dir.resolve())
    ExportCursor.objects.get_or_create(
        dataset=dataset.name,
        destination=destination,
        format=fmt,
        defaults={"version": dataset.version},
    )
    with transaction.atomic():
        cursor = (
            ExportCursor.objects.select_for_update(skip_locked=True)
            .filter(dataset=dataset.name, destination=destination, format=fmt)
            .first()
        )
        if cursor is None:
            logger.info(
                "export skipped: another run holds the cursor", extra={"dataset": dataset.name}
            )
            return RunResult(dataset.name, fmt, None)
        after = None
        if cursor.position is not None and cursor.version == dataset.version:
            after = decode_key(dataset, cursor.position)
        written = write_file(dataset, fmt, out_dir, stamp=now, until=until, after=after)
        if written.last_key is not None:
            cursor.position = encode_key(written.last_key)
        elif cursor.version != dataset.version:
            cursor.position = None
        cursor.version = dataset.version
        cursor.last_run_at = now
        cursor.last_file = str(written.path)
        cursor.last_rows = written.rows
        cursor.total_rows += written.rows
        cursor.save()
    logger.info(
        "export written",
        extra={
            "dataset": dataset.name,
            "format": fmt,
            "rows": written.rows,
            "file": str(written.path),
        },
    )
    return RunResult(dataset.name, fmt, written)


def export_all_incremental(
    *, out_dir: Path, formats: list[str], now: datetime | None = None
) -> list[RunResult]:
    """The nightly run: every registered dataset, in every configured format. One failing
    dataset is logged and does not stop the others."""
    now = now or timezone.now()
    results = []
    for dataset in registered_datasets():
        for fmt in formats:
            try:
                results.append(
                    export_incremental(dataset=dataset, out_dir=out_dir, fmt=fmt, now=now)
                )
            except Exception:
                logger.exception("export failed", extra={"dataset": dataset.name, "format": fmt})
    return results
