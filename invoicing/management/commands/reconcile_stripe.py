"""``manage.py reconcile_stripe [--start 2026-02-01] [--end 2026-02-02]``: compare Tally with
Stripe for a period (default: yesterday, UTC) and record the report the admin lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from invoicing.models import RunStatus
from invoicing.stripe.reconciliation import differences_summary, reconcile


def _moment(value: str) -> datetime:
    """An ISO date (midnight UTC) or datetime (UTC when naive)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{value!r} is not an ISO date or datetime") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Reconcile invoices, payments, refunds and disputes with Stripe for a period."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--start", type=_moment, help="start (inclusive), ISO date/time")
        parser.add_argument("--end", type=_moment, help="end (exclusive), ISO date/time")

    def handle(
        self, *args: Any, start: datetime | None = None, end: datetime | None = None, **options: Any
    ) -> None:
        today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
        start = start or (end - timedelta(days=1) if end else today - timedelta(days=1))
        end = end or start + timedelta(days=1)
        if end <= start:
            raise CommandError("--end must be after --start")
        run = reconcile(start=start, end=end, trigger="command")
        for line in differences_summary([run]):
            self.stdout.write(line)
        for difference in run.differences.all():
            self.stdout.write(
                f"  {difference.object_type} {difference.stripe_id or '-'} "
                f"{difference.tally_ref or '-'}: {difference.kind} "
                f"(tally {difference.tally_value or '-'}, "
                f"stripe {difference.stripe_value or '-'})"
            )
        if run.status == RunStatus.FAILED:
            raise CommandError(f"reconciliation failed: {run.error}")
