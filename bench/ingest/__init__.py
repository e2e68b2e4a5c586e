"""Ingest benchmark: ``bin/tally exec -- python -m bench.ingest [--quick]``.

Starts gunicorn and a Celery rollup worker against a separate bench database on the same
PostgreSQL, sends events over HTTP from separate client processes, and writes the results to
docs/benchmarks.md. Everything runs on loopback; every loop is bounded by a duration or count.
"""
