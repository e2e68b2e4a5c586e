"""``manage.py export --dataset NAME --format csv|parquet [--since ISO] [--until ISO] --out DIR``

Writes one file ``DIR/<dataset>/<dataset>-<now>.<format>`` with the dataset's rows whose cursor
time is in ``[since, until)``. ``--dataset all`` writes every dataset. ``--incremental`` instead
continues from the cursor kept for (dataset, DIR, format), like the nightly export."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from billingsite.errors import AppError
from billingsite.exports import registered_datasets
from reporting.services import dataset_or_error, export_incremental
from reporting.writers import FORMATS, write_file


def _moment(raw: str | None, name: str) -> datetime | None:
    if not raw:
        return None
    value = parse_datetime(raw)
    if value is None and (day := parse_date(raw)) is not None:
        value = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if value is None:
        raise CommandError(f"--{name} {raw!r} is not an ISO 8601 date or time.")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


class Command(BaseCommand):
    help = "Export a dataset (or all) to a CSV or Parquet file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", required=True, help="A dataset name, or 'all'.")
        parser.add_argument("--format", required=True, choices=FORMATS)
        parser.add_argument("--since", help="ISO 8601 (UTC when no zone); inclusive.")
        parser.add_argument("--until", help="ISO 8601 (UTC when no zone); exclusive.")
        parser.add_argument("--out", required=True, help="The folder to write into.")
        parser.add_argument(
            "--incremental", action="store_true", help="Continue from the kept cursor."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            names = (
                [d.name for d in registered_datasets()]
                if options["dataset"] == "all"
                else [dataset_or_error(options["dataset"]).name]
            )
        except AppError as exc:
            raise CommandError(f"{exc.message} Known: {exc.details.get('dataset')}") from exc
        since, until = _moment(options["since"], "since"), _moment(options["until"], "until")
        out, fmt, now = Path(options["out"]), options["format"], timezone.now()
        for name in names:
            dataset = dataset_or_error(name)
            if options["incremental"]:
                if since or until:
                    raise CommandError("--incremental takes no --since/--until.")
                written = export_incremental(dataset=dataset, out_dir=out, fmt=fmt, now=now).written
                if written is None:
                    self.stdout.write(f"{name}: skipped (another run holds the cursor)")
                    continue
            else:
                written = write_file(dataset, fmt, out, stamp=now, since=since, until=until)
            self.stdout.write(f"{name}: {written.rows} rows -> {written.path}")
