"""Gapless document numbers (invoices, credit notes): one counter row per series."""

from __future__ import annotations

from django.db import connection


def number_allocate(series: str) -> str:
    """Next number of ``series``: a counter row advanced under its row lock; never max()+1."""
    with connection.cursor() as cursor:
        # One statement: the first number of a new series inserts 1; any later one takes the
        # row lock and adds 1 (held until the transaction ends, so rolled-back numbers are
        # reused and the series stays gapless).
        cursor.execute(
            "INSERT INTO invoicing_invoicenumbercounter AS c (series, last_value) VALUES (%s, 1)"
            " ON CONFLICT (series) DO UPDATE SET last_value = c.last_value + 1"
            " RETURNING last_value",
            [series],
        )
        value = cursor.fetchone()[0]
    return f"{series}-{value:06d}"
