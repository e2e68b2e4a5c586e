"""Gapless document numbers (invoices, credit notes): one counter row per series."""

from __future__ import annotations

from django.db import connection


def number_allocate(series: str) -> str:
    """Next number of ``series``: a counter row advanced under its row lock; never max()+1."""
    return numbers_allocate(series, 1)[0]


def numbers_allocate(series: str, count: int) -> list[str]:
    """The next ``count`` numbers of ``series``, in order, taken as one block: the counter row
    advances by ``count`` under its row lock, held until the transaction ends (a rollback gives
    the whole block back, so the series stays gapless)."""
    if count < 1:
        return []
    with connection.cursor() as cursor:
        # One statement: the first numbers of a new series insert ``count``; any later block
        # takes the row lock and adds ``count``.
        cursor.execute(
            "INSERT INTO invoicing_invoicenumbercounter AS c (series, last_value) VALUES (%s, %s)"
            " ON CONFLICT (series) DO UPDATE SET last_value = c.last_value + EXCLUDED.last_value"
            " RETURNING last_value",
            [series, count],
        )
        last = cursor.fetchone()[0]
    return [f"{series}-{value:06d}" for value in range(last - count + 1, last + 1)]
