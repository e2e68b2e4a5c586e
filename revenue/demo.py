"""Demo journal: post everything the other apps' demo data holds (invoices, credit notes,
payments, refunds, the lost dispute) and the recognition due by today. Idempotent, like every
posting: a second run posts nothing."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from revenue.models import JournalEntry
from revenue.services.recognition import post_pending


def seed(out: Any) -> None:
    posted = post_pending(today=timezone.now()).entries
    total = JournalEntry.objects.count()
    out.write(f"revenue: {posted} journal entries posted ({total} in the journal)\n")
