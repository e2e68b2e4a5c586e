"""Start a real Celery worker process against the test database and the test Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    """DATABASE_URL naming the database pytest-django created (test_<name>)."""
    params = connection.settings_dict
    host = params["HOST"] or ""
    host_part = quote(host, safe="") if host.startswith("/") else host
    port = f":{params['PORT']}" if params.get("PORT") else ""
    auth = params["USER"] or ""
    if params.get("PASSWORD"):
        auth += f":{quote(params['PASSWORD'], safe='')}"
    return f"postgres://{auth}@{host_part}{port}/{params['NAME']}"


@contextmanager
def celery_worker(
    *,
    queues: str | None = "default,rollups,billing,stripe,notifications",
    concurrency: int = 1,
    pool: str = "prefork",
    extra_env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``celery worker`` as a child process until the block ends; wait until it is ready.
    ``queues=None`` starts it without ``-Q``, the way an operator's plain worker runs."""
    # This xdist worker's database (test_tally_gwN); its Redis database follows from the
    # inherited PYTEST_XDIST_WORKER / TALLY_TEST_REDIS_DB (billingsite/redis_urls.py), so the
    # child's broker, result backend and cache are this worker's and no other's.
    env = {**os.environ, "DATABASE_URL": test_database_url(), **(extra_env or {})}
    queue_args = ["-Q", queues] if queues is not None else []
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "billingsite",
            "worker",
            *queue_args,
            "--concurrency",
            str(concurrency),
            "--pool",
            pool,
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _wait_until_ready(proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _wait_until_ready(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    from billingsite.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"celery worker exited early ({proc.returncode}):\n{err}")
        replies = app.control.ping(timeout=0.5)
        if replies:
            return
    raise RuntimeError("celery worker did not answer a ping within 30 s")
