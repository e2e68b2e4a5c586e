"""A load client process: POSTs check or consume over one keep-alive loopback connection until
the duration ends; reports latencies, denials and non-200 answers."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection


@dataclass(frozen=True)
class Plan:
    port: int
    api_key: str
    op: str  # "check", "consume", or "healthz" (the floor: an empty Django request)
    feature: str  # "tokens": spread over customers; "hot": one customer's counter
    customers: int
    client_no: int
    start_at: float
    duration: float


def _body(plan: Plan, serial: int) -> tuple[str, bytes]:
    if plan.op == "healthz":
        return "/healthz", b""
    customer = 0 if plan.feature == "hot" else (plan.client_no * 7919 + serial) % plan.customers
    data: dict[str, object] = {"feature": plan.feature, "amount": "1"}
    if plan.op == "consume":
        data["idempotency_key"] = f"{plan.start_at:.0f}-{plan.client_no}-{serial}"
    return f"/api/v1/customers/bench-{customer}/{plan.op}", json.dumps(data).encode()


def run_client(plan: Plan, out: Connection) -> None:
    headers = {"Authorization": f"Bearer {plan.api_key}", "Content-Type": "application/json"}
    bodies = [_body(plan, n) for n in range(200_000)]
    latencies: list[float] = []
    errors: dict[int, int] = {}
    denied = 0
    conn = http.client.HTTPConnection("127.0.0.1", plan.port, timeout=60)
    time.sleep(max(0.0, plan.start_at - time.time()))
    first = last = time.monotonic()
    cpu_start = time.process_time()
    deadline = first + plan.duration
    for path, body in bodies:
        if time.monotonic() >= deadline:
            break
        started = time.monotonic()
        try:
            if body:
                conn.request("POST", path, body=body, headers=headers)
            else:
                conn.request("GET", path)
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", plan.port, timeout=60)
            errors[0] = errors.get(0, 0) + 1
            continue
        last = time.monotonic()
        latencies.append(last - started)
        if response.status != 200:
            errors[response.status] = errors.get(response.status, 0) + 1
        elif b'"allowed":false' in payload:
            denied += 1
    conn.close()
    out.send(
        {
            "latencies": latencies,
            "errors": errors,
            "denied": denied,
            "elapsed": last - first,
            "cpu_s": time.process_time() - cpu_start,
        }
    )
    out.close()
