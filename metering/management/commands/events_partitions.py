"""``manage.py events_partitions``: keep the usage-event month partitions, archive old months.

Without options: create the partitions of this month and ``--ahead`` months after it (default
``METERING_PARTITIONS_AHEAD``) and of any month whose events wait in DEFAULT. ``--detach
2025-01 --out 2025-01.parquet`` (or ``--table archive_2025_01``) archives one month, refused
while it can still change; ``--prune-keys`` drops dedup keys past the window plus margin;
``--list`` prints the partitions with their row counts.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from metering.models import ArchivedMonth
from metering.partitions import (
    DEFAULT,
    PartitionError,
    ensure_partitions,
    monthly_partitions,
    prune_keys,
)
from metering.partitions_archive import detach_month


def _month(text: str) -> date:
    try:
        year, month = text.split("-")
        return date(int(year), int(month), 1)
    except ValueError as exc:
        raise CommandError(f"month must be YYYY-MM, not {text!r}") from exc


class Command(BaseCommand):
    help = "Create usage-event partitions ahead, archive old months, prune dedup keys."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--ahead", type=int, default=None, help="months after this one")
        parser.add_argument("--detach", metavar="YYYY-MM", help="archive this month")
        parser.add_argument("--out", help="Parquet file for --detach")
        parser.add_argument("--table", default="", help="table to rename the month to")
        parser.add_argument("--prune-keys", action="store_true", help="drop expired dedup keys")
        parser.add_argument("--list", action="store_true", help="print partitions and rows")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["detach"]:
            out = Path(options["out"]) if options["out"] else None
            month = _month(options["detach"])
            try:
                archived = detach_month(month, out=out, table=options["table"])
            except PartitionError as exc:
                raise CommandError(str(exc)) from exc
            except Exception as exc:
                pending = ArchivedMonth.objects.filter(month=month, completed_at=None).first()
                if pending is None:
                    raise
                raise CommandError(
                    f"{month:%Y-%m} is detached but not yet written to {pending.destination}"
                    f" ({exc}); its rows are kept in the database: run the same command again"
                    " to finish"
                ) from exc
            self.stdout.write(
                f"archived {archived.month:%Y-%m}: {archived.rows} events -> {archived.destination}"
            )
            return
        if options["list"]:
            with connection.cursor() as cursor:
                for part in [*(p.name for p in monthly_partitions()), DEFAULT]:
                    cursor.execute(f'SELECT count(*) FROM "{part}"')  # noqa: S608
                    self.stdout.write(f"{part}\t{cursor.fetchone()[0]}")
            for pending in ArchivedMonth.objects.filter(completed_at=None):
                self.stdout.write(
                    f"{pending.month:%Y-%m} detached, not yet written to {pending.destination}"
                    " (run --detach again for it)"
                )
            return
        for name, moved in ensure_partitions(ahead=options["ahead"]).items():
            self.stdout.write(f"created {name} ({moved} events moved from DEFAULT)")
        if options["prune_keys"]:
            self.stdout.write(f"pruned {prune_keys()} dedup keys")
