"""Detach one month of usage events and archive it to a Parquet file or a table.

Refused (nothing changes) while the month can still change: inside the dedup window plus margin,
with unattributed or still-queued events, or with a customer whose invoices are not finalized
through the month's end (``metering.partitions.detach_refusals``). The month's rollups stay, so
invoices and usage reads are unchanged; its dedup keys stay until ``prune_keys`` removes them.
Ingestion waits only for the detach itself, not for the Parquet file (``detach_month``).
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


def _staging_name(month: date) -> str:
    """Where a detached month waits while it is written to Parquet (outside the events table)."""
    return f"metering_archiving_{month:%Y_%m}"


def _table_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f'"{name}"'])
        return bool(cursor.fetchone()[0])


def detach_month(month: date, *, out: Path | None = None, table: str = "") -> ArchivedMonth:
    """Detach ``month``'s partition and archive it to ``out`` (Parquet; the detached table is
    then dropped) or rename it to ``table`` (kept in the database, outside the events table).

    In three steps, so ingestion and rollups wait only for catalog changes: (1) under an
    ``ACCESS EXCLUSIVE`` lock on the events table, check the refusals, detach the partition,
    rename it (to ``table``, or to a staging name for Parquet) and record the month, with
    ``completed_at`` empty; (2) with no lock on the events table, write the Parquet file (or
    count the table); (3) drop the staging table and complete the record. A failure in (2) or
    (3) leaves the rows in the renamed table: calling this again for the month finishes it."""
    if (out is None) == (not table):
        raise PartitionError("give exactly one of --out FILE.parquet or --table NAME")
    if table and not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", table):
        raise PartitionError(f"--table must be a plain lower-case identifier, not {table!r}")
    pending = ArchivedMonth.objects.filter(month=month).first()
    if pending is not None and pending.completed_at is not None:
        raise PartitionError(f"{month:%Y-%m} is already archived to {pending.destination}")
    holder = table or _staging_name(month)
    destination = table or str(out)
    if pending is None:
        pending = _detach(month, holder, destination=destination)
    elif not _table_exists(holder):
        raise PartitionError(
            f"{month:%Y-%m} was detached to {pending.destination} and its rows are not in"
            f" {holder}: finish it with the same --out or --table as the first time"
        )
    if out is not None:
        rows = _write_parquet(holder, out)
    else:
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT count(*) FROM "{holder}"')  # noqa: S608
            (rows,) = cursor.fetchone()
    with transaction.atomic():
        if out is not None:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP TABLE "{holder}"')
        pending.rows = rows
        pending.destination = destination
        pending.completed_at = timezone.now()
        pending.save(update_fields=["rows", "destination", "completed_at"])
    return pending


def _detach(month: date, holder: str, *, destination: str) -> ArchivedMonth:
    """Step (1): refusals, DETACH and RENAME under the lock, and the record, in one commit."""
    name = partition_name(month)
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Inserts and rollups wait behind this lock until the commit below: catalog
            # changes only, no rows are read or copied under it. The refusals run under it so
            # nothing changes what they found.
            cursor.execute(f"LOCK TABLE {PARENT} IN ACCESS EXCLUSIVE MODE")
        reasons = detach_refusals(month)
        if reasons:
            raise PartitionError(f"{month:%Y-%m} cannot be archived yet: " + "; ".join(reasons))
        if _table_exists(holder):
            raise PartitionError(f"a table named {holder} already exists")
        with connection.cursor() as cursor:
            cursor.execute(f'ALTER TABLE {PARENT} DETACH PARTITION "{name}"')
            cursor.execute(f'ALTER TABLE "{name}" RENAME TO "{holder}"')
        return ArchivedMonth.objects.create(
            month=month, rows=0, destination=destination, archived_at=timezone.now()
        )
