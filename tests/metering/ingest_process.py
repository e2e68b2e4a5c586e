"""Run by test_concurrency in separate processes: wait for a common start time, ingest, print.

python -m tests.metering.ingest_process <start_at> <seed> <variant_every>
"""

from __future__ import annotations

import json
import os
import random
import sys
import time


def main() -> None:
    start_at, seed, variant_every = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billingsite.settings")
    import django

    django.setup()
    from metering.services import events_ingest

    ids = list(range(400))
    random.Random(seed).shuffle(ids)
    events = [
        {
            "id": f"same-{i}",
            "customer": "acme",
            "type": "api_request",
            "properties": {"n": i, "v": seed if variant_every and i % variant_every == 0 else 0},
        }
        for i in ids
    ]
    time.sleep(max(0.0, start_at - time.time()))
    outcomes = []
    for chunk in range(0, len(events), 100):
        result = events_ingest(api_key=None, events=events[chunk : chunk + 100])
        outcomes += [(e["id"], e["status"]) for e in result.events]
    sys.stdout.write(json.dumps(outcomes))


if __name__ == "__main__":
    main()
