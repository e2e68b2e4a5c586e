"""Check DESIGN.md's invariants against the database; exit 1 when any is broken."""

import time

from django.core.management.base import BaseCommand, CommandError

from billingsite.invariants import registered_checks, run_check


class Command(BaseCommand):
    help = "Check the billing invariants (rollups, invoice totals, ledgers, refunds...)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--limit", type=int, default=20, help="violations to list per check (default 20)"
        )
        parser.add_argument(
            "--only",
            action="append",
            default=[],
            help="run only checks whose name contains this (repeatable)",
        )

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        checks = [
            c
            for c in registered_checks()
            if not opts["only"] or any(part in c.name for part in opts["only"])
        ]
        broken = 0
        for index, check in enumerate(checks, start=1):
            started = time.monotonic()
            self.stdout.write(
                f"[{index}/{len(checks)}] invariant {check.number}: {check.title} "
                f"({check.name})... ",
                ending="",
            )
            self.stdout.flush()
            violations = list(run_check(check, limit=opts["limit"]))
            elapsed = time.monotonic() - started
            if not violations:
                self.stdout.write(self.style.SUCCESS(f"ok ({elapsed:.1f}s)"))
                continue
            broken += 1
            self.stdout.write(self.style.ERROR(f"BROKEN ({elapsed:.1f}s)"))
            for violation in violations:
                self.stdout.write(f"    {violation.subject}: {violation.detail}")
        if broken:
            raise CommandError(f"{broken} of {len(checks)} invariant checks found violations.")
        self.stdout.write(self.style.SUCCESS(f"All {len(checks)} invariant checks passed."))
