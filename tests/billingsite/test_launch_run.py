"""bin/tally run: services' output goes to .data/logs/<name>.log (the console keeps a compact
status), --verbose keeps it on the console, and the demo's loopback Stripe starts and stops."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import requests

from billingsite import launch, launch_run
from billingsite.stripe_loopback.process import LOCALSTRIPE_API_KEY

SAYS = "import sys; print('{0} out', flush=True); print('{0} err', file=sys.stderr, flush=True)"


def _commands() -> dict[str, list[str]]:
    return {name: [sys.executable, "-c", SAYS.format(name)] for name in ("web", "worker")}


def _wait(procs) -> None:
    for proc in procs.values():
        assert proc.wait(30) == 0


def test_each_service_writes_its_own_log_file_not_the_console(tmp_path, capfd) -> None:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    launch_run.log_path(log_dir, "web").write_text("from an earlier run\n")
    procs = launch_run.start_services(
        _commands(), env={"PATH": "/usr/bin"}, cwd=tmp_path, log_dir=log_dir, verbose=False
    )
    _wait(procs)
    assert (log_dir / "web.log").read_text() == "from an earlier run\nweb out\nweb err\n"
    assert (log_dir / "worker.log").read_text() == "worker out\nworker err\n"
    out, err = capfd.readouterr()
    assert "out" not in out and "err" not in err


def test_verbose_keeps_the_services_output_on_the_console(tmp_path, capfd) -> None:
    log_dir = tmp_path / "logs"
    procs = launch_run.start_services(
        _commands(), env={"PATH": "/usr/bin"}, cwd=tmp_path, log_dir=log_dir, verbose=True
    )
    _wait(procs)
    out, err = capfd.readouterr()
    assert "web out" in out and "worker out" in out and "web err" in err
    assert not log_dir.exists()


def test_the_status_names_the_url_logins_services_stripe_and_log_files(tmp_path) -> None:
    status = launch_run.Status(
        url="http://127.0.0.1:8000/",
        demo=True,
        running={"web": 11, "worker": 12, "beat": 13},
        log_dir=tmp_path / "logs",
        stripe="localstripe at http://127.0.0.1:4321 (loopback, demo only)",
    )
    lines = launch_run.status_lines(status)
    text = "\n".join(lines)
    assert lines[0] == "Tally is running at http://127.0.0.1:8000/"
    for login in (
        "demo-support / demo-support-password",
        "demo-finance / demo-finance-password",
        "demo-admin / demo-admin-password",
        "acme-user / demo-customer-password",
    ):
        assert login in text
    assert "Running: web (pid 11), worker (pid 12), beat (pid 13)" in text
    assert "Stripe: localstripe at http://127.0.0.1:4321" in text
    assert f"Logs: web.log, worker.log, beat.log in {tmp_path / 'logs'}/" in text
    assert len(lines) <= 12  # compact: the logins stay on screen
    quiet = launch_run.status_lines(
        launch_run.Status(
            url="http://h:1/", demo=False, running={"web": 1}, log_dir=None, stripe="x"
        )
    )
    assert "Demo logins" not in "\n".join(quiet)
    assert "Logs: on this console (--verbose)" in quiet


def test_run_accepts_verbose(monkeypatch) -> None:
    seen = []
    monkeypatch.setattr(launch, "command_run", lambda args: seen.append(args.verbose) or 0)
    assert launch.main(["run", "--verbose"]) == 0
    assert launch.main(["run"]) == 0
    assert seen == [True, False]


def test_a_dead_service_log_tail_is_shown(tmp_path) -> None:
    log = tmp_path / "web.log"
    log.write_text("\n".join(f"line {n}" for n in range(40)) + "\n")
    assert launch_run.log_tail(log, lines=3) == "line 37\nline 38\nline 39"
    assert launch_run.log_tail(tmp_path / "missing.log") == ""


@pytest.mark.slow
def test_the_demo_stripe_runs_on_loopback_keeps_its_objects_and_stops(tmp_path) -> None:
    state = tmp_path / "stripe"
    url = launch_run.loopback_url("0.0.0.0", 8000, "/webhooks/stripe/")  # noqa: S104
    assert url == "http://127.0.0.1:8000/webhooks/stripe/"
    with launch_run.demo_stripe({}, state, webhook_url=url) as (env, described):
        base = env["STRIPE_API_BASE"]
        assert base.startswith("http://127.0.0.1:") and base in described
        assert env["STRIPE_API_KEY"] == LOCALSTRIPE_API_KEY
        assert env["STRIPE_WEBHOOK_SECRETS"].startswith("whsec_demo_")
        created = requests.post(
            base + "/v1/customers", auth=(LOCALSTRIPE_API_KEY, ""), timeout=10
        ).json()
        secret = env["STRIPE_WEBHOOK_SECRETS"]
    with pytest.raises(requests.ConnectionError):
        requests.get(base + "/v1/customers", timeout=2)  # stopped with the block
    with launch_run.demo_stripe({}, state, webhook_url=url) as (env, _):
        again = requests.get(
            env["STRIPE_API_BASE"] + f"/v1/customers/{created['id']}",
            auth=(LOCALSTRIPE_API_KEY, ""),
            timeout=10,
        )
        assert again.status_code == 200  # the demo's database still names it next run
        assert env["STRIPE_WEBHOOK_SECRETS"] == secret


def test_a_configured_stripe_is_used_as_it_is(tmp_path) -> None:
    environ = {"STRIPE_API_KEY": "sk_live_x", "STRIPE_API_BASE": ""}
    with launch_run.demo_stripe(environ, tmp_path, webhook_url="http://127.0.0.1:1/") as (
        env,
        described,
    ):
        assert env == {} and "STRIPE_API_KEY from the environment" in described
    assert not Path(tmp_path / "stderr.log").exists()
