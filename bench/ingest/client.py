"""A load-generating client process: pre-builds its request bodies, waits for the common start
time, then POSTs them over one loopback connection until the duration or the bodies run out."""

from __future__ import annotations

import http.client
import json
import random
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection

_COUNTS = re.compile(
    rb'"accepted":(\d+),"duplicate":(\d+),"conflict":(\d+),'
    rb'"unattributed":(\d+),"rejected":(\d+)'
)


@dataclass(frozen=True)
class ClientPlan:
    port: int
    api_key: str
    batch: int
    duplicates: float
    bodies: int
    start_at: float
    duration: float
    customers: int
    run_id: str
    client_no: int
    path: str = "/api/v1/events"


def build_bodies(plan: ClientPlan) -> list[bytes]:
    """Batches of fresh events; with duplicates, a share of each batch repeats events of the
    previous batch byte for byte (already stored, so the server answers ``duplicate``)."""
    rng = random.Random(plan.client_no)
    now = datetime.now(UTC)
    bodies: list[bytes] = []
    previous: list[dict] = []
    fresh_per_batch = plan.batch - int(plan.batch * plan.duplicates)
    serial = 0
    for _ in range(plan.bodies):
        fresh = []
        for _ in range(fresh_per_batch if previous else plan.batch):
            serial += 1
            at = now - timedelta(seconds=rng.randrange(3600))
            fresh.append(
                {
                    "id": f"{plan.run_id}-{plan.client_no}-{serial}",
                    "customer": f"bench-{rng.randrange(plan.customers)}",
                    "type": "api_request",
                    "timestamp": at.isoformat().replace("+00:00", "Z"),
                    "properties": {
                        "endpoint": f"/v1/items/{rng.randrange(50)}",
                        "bytes": rng.randrange(100_000),
                        "region": rng.choice(("eu", "us", "ap")),
                    },
                }
            )
        repeats = previous[: plan.batch - len(fresh)] if previous else []
        events = fresh + repeats
        bodies.append(json.dumps({"events": events}).encode())
        previous = fresh
    return bodies


def run_client(plan: ClientPlan, out: Connection) -> None:
    bodies = build_bodies(plan)
    headers = {"Authorization": f"Bearer {plan.api_key}", "Content-Type": "application/json"}
    latencies: list[float] = []
    totals = [0, 0, 0, 0, 0]
    errors: dict[int, int] = {}
    conn = http.client.HTTPConnection("127.0.0.1", plan.port, timeout=60)
    time.sleep(max(0.0, plan.start_at - time.time()))
    deadline = time.monotonic() + plan.duration
    first = last = time.monotonic()
    sent = 0
    for body in bodies:
        if time.monotonic() >= deadline:
            break
        started = time.monotonic()
        try:
            conn.request("POST", plan.path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", plan.port, timeout=60)
            errors[0] = errors.get(0, 0) + 1
            continue
        last = time.monotonic()
        latencies.append(last - started)
        sent += 1
        if response.status != 200:
            errors[response.status] = errors.get(response.status, 0) + 1
            continue
        match = _COUNTS.search(payload[:200])
        if match:
            for i, value in enumerate(match.groups()):
                totals[i] += int(value)
    conn.close()
    out.send(
        {
            "latencies": latencies,
            "totals": totals,
            "errors": errors,
            "elapsed": last - first,
            "requests": sent,
            "ran_out": sent == len(bodies),
        }
    )
    out.close()
