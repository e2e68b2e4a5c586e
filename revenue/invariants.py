"""Invariant 11 (revenue): the journal balances (see billingsite/invariants.py).

The database refuses an unbalanced entry at commit (migration 0001); these checks say so again
from the data, for on-call and for rows written while a trigger was missing."""

from collections.abc import Iterator

from django.db.models import Count, F, Q, Sum

from billingsite.invariants import Violation, invariant
from revenue.models import JournalEntry, JournalLine


@invariant(11, "every journal entry balances in its one currency")
def journal_entries_balance() -> Iterator[Violation]:
    rows = (
        JournalEntry.objects.annotate(
            debits=Sum("lines__debit"),
            credits=Sum("lines__credit"),
            foreign=Count("lines", filter=~Q(lines__currency=F("currency"))),
        )
        .filter(Q(foreign__gt=0) | ~Q(debits=F("credits")))
        .values_list("source_key", "currency", "debits", "credits", "foreign")
    )
    for key, currency, debits, credits, foreign in rows.iterator():
        yield Violation(
            f"journal entry {key}",
            f"debits {debits} and credits {credits} {currency}"
            + (f", {foreign} lines in another currency" if foreign else ""),
        )


@invariant(11, "the journal balances per currency")
def journal_balances_per_currency() -> Iterator[Violation]:
    rows = (
        JournalLine.objects.values("currency")
        .annotate(debits=Sum("debit"), credits=Sum("credit"))
        .exclude(debits=F("credits"))
    )
    for row in rows:
        yield Violation(
            f"journal {row['currency']}",
            f"debits {row['debits']} and credits {row['credits']} differ",
        )
