"""Planner statistics for tests that load a lot of rows inside their transaction."""

from __future__ import annotations

from django.db import connection


def analyze_tables() -> None:
    """ANALYZE every table, as autovacuum would after a bulk load commits.

    A test's rows are never committed, so autovacuum never sees them; and after earlier tests
    the tables were last analyzed empty. PostgreSQL then plans for one row per table: the demo
    data (thousands of events and rollups) went through nested loops and the demo-pages test
    took 48 s alone and 274 s in the suite instead of 4 s. ANALYZE in the transaction counts its
    own rows, and the statistics roll back with it.
    """
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
