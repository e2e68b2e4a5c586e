"""Balanced, idempotent postings to the refunds/disputes ledger."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction

from disputes.models import LedgerEntry


@transaction.atomic
def ledger_post(
    *, key: str, lines: list[tuple[str, Decimal]], currency: str, memo: str = "", **links: Any
) -> bool:
    """Write the posting ``key`` once; True when this call wrote it.

    ``lines`` are (account, signed amount) and must sum to zero. A concurrent or repeated call
    with the same key inserts nothing (unique ``posting_key`` + ``account``)."""
    if sum((amount for _, amount in lines), Decimal(0)) != 0:
        raise ValueError(f"posting {key} does not balance: {lines}")
    if LedgerEntry.objects.filter(posting_key=key).exists():
        return False
    created = LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                posting_key=key,
                account=account,
                amount=amount,
                currency=currency,
                memo=memo[:255],
                **links,
            )
            for account, amount in lines
            if amount != 0
        ],
        ignore_conflicts=True,
    )
    return bool(created)


def balance(account: str, **filters: Any) -> Decimal:
    from django.db.models import Sum

    total = LedgerEntry.objects.filter(account=account, **filters).aggregate(s=Sum("amount"))["s"]
    return total or Decimal(0)
