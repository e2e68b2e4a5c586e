"""Detach one month of usage events and archive it to a Parquet file or a table.

Refused (nothing changes) while the month can still change: inside the dedup window plus margin,
with unattributed or still-queued events, or with a customer whose invoices are not finalized
through the month's end (``metering.partitions.detach_refusals``). The month's rollups stay, so
invoices and usage reads are unchanged; its dedup keys stay until ``prune_keys`` removes them.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from metering.models import ArchivedMonth
from metering.partitions import PARENT, PartitionError, detach_refusals, partition_name

_BATCH = 50_000


def _write_parquet(table: str, out: Path) -> int:
    """Stream ``table`` into ``out`` in row groups of ``_BATCH``; returns the row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = 0
    writer: pq.ParquetWriter | None = None
    tmp = out.with_name(out.name + ".partial")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, namespace, event_id, customer_id, customer_ref, type, timestamp,"  # noqa: S608
            " timestamp_given, properties::text AS properties, content_hash, received_at,"
            f' attributed_at, is_late, late_marked_at FROM "{table}" ORDER BY id'
        )
        names = [d[0] for d in cursor.description]
        try:
            while chunk := cursor.fetchmany(_BATCH):
                columns = {n: [row[i] for row in chunk] for i, n in enumerate(names)}
                columns["content_hash"] = [bytes(v) for v in columns["content_hash"]]
                batch = pa.table(columns)
                if writer is None:
                    writer = pq.ParquetWriter(str(tmp), batch.schema)
                writer.write_table(batch)
                rows += len(chunk)
        finally:
            if writer is not None:
                writer.close()
    if writer is None:  # empty month: still leave a readable (empty) file
        pq.write_table(pa.table({n: [] for n in names}), str(tmp))
    tmp.replace(out)
    return rows


def detach_month(month: date, *, out: Path | None = None, table: str = "") -> ArchivedMonth:
    """Detach ``month``'s partition and archive it to ``out`` (Parquet; the detached table is
    then dropped) or rename it to ``table`` (kept in the database, outside the events table)."""
    if (out is None) == (not table):
        raise PartitionError("give exactly one of --out FILE.parquet or --table NAME")
    if table and not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", table):
        raise PartitionError(f"--table must be a plain lower-case identifier, not {table!r}")
    name = partition_name(month)
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Blocks ingestion and rollups for the duration of the detach (catalog change
            # only, no data is copied); the checks run under the lock so nothing changes them.
            cursor.execute(f"LOCK TABLE {PARENT} IN ACCESS EXCLUSIVE MODE")
        reasons = detach_refusals(month)
        if reasons:
            raise PartitionError(f"{month:%Y-%m} cannot be archived yet: " + "; ".join(reasons))
        with connection.cursor() as cursor:
            cursor.execute(f'ALTER TABLE {PARENT} DETACH PARTITION "{name}"')
            if table:
                cursor.execute(f'ALTER TABLE "{name}" RENAME TO "{table}"')
                cursor.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608
                (rows,) = cursor.fetchone()
                destination = table
        if out is not None:
            rows = _write_parquet(name, out)
            destination = str(out)
            with connection.cursor() as cursor:
                cursor.execute(f'DROP TABLE "{name}"')
        # The file is complete before the commit; a failure before it leaves the partition
        # attached (the DETACH rolls back) and at worst an orphan file to delete.
        return ArchivedMonth.objects.create(
            month=month, rows=rows, destination=destination, archived_at=timezone.now()
        )
