"""The demo seed posts the demo company's money facts into a balanced journal whose month
closes tie to the invoices; seeding again posts nothing."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from billingsite.invariants import registered_checks
from revenue.models import JournalEntry
from revenue.selectors import Month, month_close

# Seeds the whole demo twice.
pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def test_seed_demo_posts_a_balanced_journal_that_ties() -> None:
    call_command("seed_demo", stdout=io.StringIO())
    keys = set(JournalEntry.objects.values_list("source_key", flat=True))
    assert {key.split(":")[0] for key in keys} >= {"invoice", "payment", "recognition"}
    call_command("seed_demo", stdout=io.StringIO())
    assert set(JournalEntry.objects.values_list("source_key", flat=True)) >= keys
    for check in registered_checks():
        if check.name.startswith("revenue."):
            assert list(check.func()) == [], check.name
    months = sorted({entry.date.strftime("%Y-%m") for entry in JournalEntry.objects.all()})
    for label in months:
        for currency, close in month_close(Month.parse(label))["currencies"].items():
            assert close["ties_to_invoices"]["ok"], (label, currency, close["ties_to_invoices"])
