"""Start gunicorn and a Celery rollup worker against the bench database; stop them."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

from bench.ingest.dbs import ROOT, url_for


@dataclass
class Servers:
    port: int
    web: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes]

    @property
    def pids(self) -> list[int]:
        return [self.web.pid, self.worker.pid]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_env(database: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url_for(database),
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        # The per-key request budget is a product default, not what is being measured.
        "API_RATE_LIMIT": "10000000/min",
    }


def _wait_http(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("gunicorn exited during start-up")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer /healthz")


@contextlib.contextmanager
def running(database: str, *, web_workers: int, rollup_workers: int) -> Iterator[Servers]:
    env = bench_env(database)
    port = free_port()
    web = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "billingsite.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(web_workers),
            "--worker-class",
            "sync",
            "--timeout",
            "120",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    worker = subprocess.Popen(
        # -B: the beat schedule (rollups every 2 s) runs as in production, next to the kicks.
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "billingsite",
            "worker",
            "-B",
            "-Q",
            "rollups",
            "--schedule",
            "/tmp/tally-bench-celerybeat",
            "--concurrency",
            str(rollup_workers),
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        _wait_http(port, web)
        yield Servers(port, web, worker)
    finally:
        for proc in (web, worker):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in (web, worker):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
