"""Resident memory of each process of the stack (a process and all its children: gunicorn's
master and workers, Celery's main process and pool, PostgreSQL's postmaster and backends),
sampled every 30 s, and the load average."""

from __future__ import annotations

import os
import time
from typing import Any

import psutil

from bench.reliability.stack import Stack

EVERY = 30.0


class Sampler:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.samples: dict[str, list[float]] = {}
        self.loads: list[float] = []
        self.last = 0.0

    def _roots(self) -> dict[str, int]:
        roots = dict(self.stack.pids())
        for name, pid_file in (
            ("postgres", self.stack.pgdata / "postmaster.pid"),
            ("redis", self.stack.redis_sock.parent / "redis.pid"),
        ):
            try:
                roots[name] = int(pid_file.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pass
        roots["localstripe"] = self.stack.stripe.process.pid
        roots["harness"] = os.getpid()
        return roots

    def sample(self) -> None:
        self.last = time.monotonic()
        self.loads.append(os.getloadavg()[0])
        for name, pid in self._roots().items():
            try:
                root = psutil.Process(pid)
                procs = [root] if name == "harness" else [root, *root.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in procs if p.is_running())
            except psutil.Error:
                continue
            self.samples.setdefault(name, []).append(rss / 2**20)

    def maybe_sample(self) -> None:
        if time.monotonic() - self.last >= EVERY:
            self.sample()

    def last_load(self) -> str:
        return f"{self.loads[-1]:.1f}" if self.loads else "?"

    def summary(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name, values in self.samples.items():
            out[name] = {
                "first_mb": round(values[0]),
                "last_mb": round(values[-1]),
                "max_mb": round(max(values)),
                "growth_mb": round(values[-1] - values[0]),
                "samples": len(values),
            }
        return out

    def load_summary(self) -> str:
        if not self.loads:
            return "n/a"
        return (
            f"min {min(self.loads):.1f}, mean {sum(self.loads) / len(self.loads):.1f}, "
            f"max {max(self.loads):.1f}"
        )
