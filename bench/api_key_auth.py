"""CPU and wall time of one API-key authentication, database lookup vs the Redis lookup cache.

    bin/tally exec -- python manage.py migrate          # once, for the embedded database
    bin/tally exec -- python bench/api_key_auth.py

Interleaved rounds (cache off, cache on) in one process against the configured PostgreSQL and
Redis; prints the median per call. CPU is this (web) process only: the database's own CPU for
the query the cache saves comes on top. Creates one key and revokes it at the end.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billingsite.settings")

import django

django.setup()

from django.test import override_settings  # noqa: E402

from accounts.services import api_key_authenticate, api_key_create, api_key_revoke  # noqa: E402

CALLS = 3000
ROUNDS = 5


def one_round(plaintext: str) -> tuple[float, float]:
    """Mean over CALLS calls: (CPU µs, wall µs) per authentication."""
    api_key_authenticate(plaintext)  # warm (and fill the cache when it is on)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(CALLS):
        if api_key_authenticate(plaintext) is None:
            raise SystemExit("the benchmark key was refused")
    return (time.process_time() - cpu) / CALLS * 1e6, (time.perf_counter() - wall) / CALLS * 1e6


def main() -> None:
    issued = api_key_create(name="bench-api-key-auth", scope="ingest")
    results: dict[str, list[tuple[float, float]]] = {"database": [], "cache": []}
    try:
        for _ in range(ROUNDS):
            with override_settings(API_KEY_CACHE_SECONDS=0):
                results["database"].append(one_round(issued.plaintext))
            results["cache"].append(one_round(issued.plaintext))
    finally:
        api_key_revoke(api_key=issued.api_key)
    print(f"load average {os.getloadavg()}, {os.cpu_count()} cores")
    for name, rows in results.items():
        cpu = statistics.median(r[0] for r in rows)
        wall = statistics.median(r[1] for r in rows)
        print(f"{name:9} CPU {cpu:7.1f} µs/auth   wall {wall:7.1f} µs/auth")


if __name__ == "__main__":
    main()
