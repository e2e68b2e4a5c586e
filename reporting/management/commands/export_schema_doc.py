"""``manage.py export_schema_doc [--check]``: rewrite (or check) the generated dataset schemas
in ``docs/exports.md`` from the registry."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reporting.schema_doc import doc_path, rewrite


class Command(BaseCommand):
    help = "Rewrite the dataset schemas in docs/exports.md from the registry."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="Fail when the doc is stale.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = doc_path()
        text = path.read_text(encoding="utf-8") if path.exists() else "# Exports\n"
        wanted = rewrite(text)
        if options["check"]:
            if wanted != text:
                raise CommandError(f"{path} is stale: run manage.py export_schema_doc.")
            self.stdout.write("up to date")
            return
        path.write_text(wanted, encoding="utf-8")
        self.stdout.write(f"wrote {path}")
