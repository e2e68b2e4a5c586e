"""Load generators over loopback HTTP, each a thread with its own connection, keeping the
figures a report needs: requests, latencies, errors by status (0 = no answer)."""

from __future__ import annotations

import http.client
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

_COUNTS = re.compile(rb'"accepted":(\d+),"duplicate":(\d+)')


@dataclass
class OpStats:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, seconds: float, status: int, ok: bool) -> None:
        with self.lock:
            self.latencies.append(seconds)
            if not ok:
                self.errors[status] += 1

    def summary(self, elapsed: float) -> dict[str, object]:
        with self.lock:
            lat = sorted(self.latencies)
            errors = dict(self.errors)
        return {
            "requests": len(lat),
            "per_s": round(len(lat) / elapsed, 2) if elapsed else 0,
            "p50_ms": _pct(lat, 0.50),
            "p95_ms": _pct(lat, 0.95),
            "p99_ms": _pct(lat, 0.99),
            "max_ms": round(lat[-1] * 1000, 1) if lat else None,
            "errors": {str(k): v for k, v in sorted(errors.items())},
        }


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 1)


class Http:
    """One keep-alive connection; reconnects after a failure."""

    def __init__(self, port: int, api_key: str | None = None) -> None:
        self.port = port
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self.conn = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        try:
            self.conn.request(method, path, body=body, headers=self.headers)
            response = self.conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = self._connect()
            return 0, b""


class Ingester(threading.Thread):
    """Sends batches of fresh events, a share of each batch repeating the previous batch
    (duplicates, as a producer's retries make them), and retries a batch until it gets a 200
    (as a producer must): so at the end every id sent is acknowledged, and stored events must
    equal the distinct ids sent."""

    def __init__(
        self,
        *,
        port: int,
        api_key: str,
        customers: list[str],
        run_id: str,
        batch: int = 100,
        duplicates: float = 0.2,
        pause: float = 0.0,
        stats: OpStats | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.http = Http(port, api_key)
        self.customers = customers
        self.run_id = run_id
        self.batch = batch
        self.duplicates = duplicates
        self.pause = pause
        self.stats = stats or OpStats("ingest")
        self.stop = threading.Event()
        self.sent_ids: set[str] = set()
        self.accepted = 0
        self.duplicate = 0
        self.retries = 0
        self.rng = random.Random(run_id)

    def _events(self, serial: int, previous: list[dict[str, object]]) -> list[dict[str, object]]:
        now = datetime.now(UTC)
        repeat = previous[: int(self.batch * self.duplicates)]
        fresh = []
        for n in range(self.batch - len(repeat)):
            at = now - timedelta(seconds=self.rng.randrange(1800))
            fresh.append(
                {
                    "id": f"{self.run_id}-{serial}-{n}",
                    "customer": self.rng.choice(self.customers),
                    "type": "api_request",
                    "timestamp": at.isoformat().replace("+00:00", "Z"),
                    "properties": {"endpoint": f"/v1/items/{self.rng.randrange(20)}"},
                }
            )
        return fresh + repeat

    def run(self) -> None:
        previous: list[dict[str, object]] = []
        serial = 0
        while not self.stop.is_set():
            serial += 1
            events = self._events(serial, previous)
            body = json.dumps({"events": events}).encode()
            if not self._send_until_acknowledged(body):
                break  # stopped while the server was still refusing: never acknowledged
            self.sent_ids.update(str(e["id"]) for e in events)
            previous = [e for e in events if str(e["id"]).startswith(f"{self.run_id}-{serial}-")]
            if self.pause:
                time.sleep(self.pause)

    def _send_until_acknowledged(self, body: bytes) -> bool:
        delay = 0.2
        give_up = None
        while True:
            if self.stop.is_set():
                give_up = give_up or time.monotonic() + 60
                if time.monotonic() > give_up:
                    return False
            started = time.monotonic()
            status, payload = self.http.request("POST", "/api/v1/events", body)
            self.stats.record(time.monotonic() - started, status, status == 200)
            if status == 200:
                match = _COUNTS.search(payload[:200])
                if match:
                    self.accepted += int(match.group(1))
                    self.duplicate += int(match.group(2))
                return True
            self.retries += 1
            time.sleep(delay)
            delay = min(delay * 2, 3.0)


class Poller(threading.Thread):
    """Calls ``pick()`` -> (method, path) in a loop and records each answer."""

    def __init__(
        self,
        *,
        port: int,
        api_key: str | None,
        stats: OpStats,
        pick: Callable[[random.Random], str],
        pause: float = 0.0,
        ok: tuple[int, ...] = (200,),
    ) -> None:
        super().__init__(daemon=True)
        self.http = Http(port, api_key)
        self.stats = stats
        self.pick = pick
        self.pause = pause
        self.ok = ok
        self.stop = threading.Event()
        self.rng = random.Random(stats.name)

    def run(self) -> None:
        while not self.stop.is_set():
            path = self.pick(self.rng)
            started = time.monotonic()
            status, _ = self.http.request("GET", path)
            self.stats.record(time.monotonic() - started, status, status in self.ok)
            if self.pause:
                time.sleep(self.pause)


def stop_all(threads: list[Ingester] | list[Poller] | list[threading.Thread]) -> None:
    for thread in threads:
        getattr(thread, "stop").set()  # noqa: B009
    for thread in threads:
        thread.join(timeout=90)
