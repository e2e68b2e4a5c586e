"""Signed usage-link tokens are bearer credentials: no log line Tally writes (Django's JSON logs,
gunicorn's access and error logs) may contain one."""

from __future__ import annotations

import io
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client
from pythonjsonlogger.json import JsonFormatter

from accounts.portal.services import usage_link_create, usage_link_revoke
from tests.usage_pages.conftest import World
from tests.workers import ROOT
from tests.workers import test_database_url as worker_database_url


@pytest.fixture
def console_output() -> Iterator[io.StringIO]:
    """What the configured JSON console handler (settings.LOGGING) writes, captured."""
    handlers = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and isinstance(h.formatter, JsonFormatter)
    ]
    assert handlers, "the JSON console handler from settings.LOGGING is not installed"
    buffer = io.StringIO()
    previous = [h.setStream(buffer) for h in handlers]
    try:
        yield buffer
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            handler.setStream(stream)


@pytest.mark.django_db
def test_django_logs_never_contain_a_usage_link_token(world: World, console_output) -> None:
    issued = usage_link_create(customer=world.acme)
    revoked = usage_link_create(customer=world.acme)
    usage_link_revoke(link=revoked.link)
    client = Client()
    assert client.get(f"/usage/l/{issued.token}/").status_code == 200
    # Unknown and revoked links are refused, and django.request logs the refused path.
    assert client.get(f"/usage/l/{issued.token}x/").status_code == 403
    assert client.get(f"/usage/l/{revoked.token}/").status_code in {403, 404, 410}
    logging.getLogger("tally.test").warning("opened %s", f"/usage/l/{issued.token}/invoices/")
    output = console_output.getvalue()
    assert "/usage/l/<redacted>/" in output  # the lines were written, with the token removed
    for token in (issued.token, revoked.token):
        assert token not in output


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (loopback)
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def _wait_until_serving(proc: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "gunicorn exited early"
        try:
            if _get(f"{base}/healthz") == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError("gunicorn did not answer /healthz within 60 s")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_gunicorn_access_and_error_logs_never_contain_a_usage_link_token(
    world: World, tmp_path: Path
) -> None:
    issued = usage_link_create(customer=world.acme)
    port = _free_port()
    logs = {name: tmp_path / f"{name}.log" for name in ("access", "error", "stderr")}
    env = {**os.environ, "DATABASE_URL": worker_database_url()}
    # Started in the checkout, as the Procfile and the launcher do, so gunicorn.conf.py applies.
    with logs["stderr"].open("wb") as stderr:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "billingsite.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--access-logfile",
                str(logs["access"]),
                "--error-logfile",
                str(logs["error"]),
            ],
            cwd=ROOT,
            env=env,
            stdout=stderr,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_until_serving(proc, base)
            assert _get(f"{base}/usage/l/{issued.token}/") == 200
            assert _get(f"{base}/usage/l/{issued.token}x/?from=mail") == 403
        finally:
            proc.terminate()
            proc.wait(30)
    access = logs["access"].read_text()
    assert access.count("/usage/l/<redacted>/") == 2, access
    for path in logs.values():
        assert issued.token not in path.read_text(), path.name
