"""Start and stop the loopback Stripe (``billingsite.stripe_loopback.server``) in its own process.

Used by the test harness (tests/stripe_support.py: a fresh, empty server per test session) and by
``bin/tally run`` (the demo's Stripe, state kept in ``.data/stripe/`` between runs). Only
loopback addresses are ever used.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parents[2]
LOCALSTRIPE_API_KEY = "sk_test_tally_localstripe"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class NotLoopback(ValueError):
    pass


def assert_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in LOOPBACK_HOSTS:
        raise NotLoopback(f"the loopback Stripe only talks to loopback, not {url!r}")


@dataclass
class LocalStripe:
    """A running localstripe. ``base_url`` has no trailing slash."""

    base_url: str
    state_dir: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = requests.request(
            method, self.base_url + path, auth=(LOCALSTRIPE_API_KEY, ""), timeout=10, **kwargs
        )
        response.raise_for_status()
        return response

    def card_payment_method(self, number: str = "4242424242424242") -> str:
        """Create a card payment method (raw test card numbers: localstripe only; the gateway
        never sends card data). 4000000000000341 attaches but declines when charged."""
        return card_payment_method(self.base_url, number)

    def register_webhook(
        self, name: str, url: str, secret: str, events: list[str] | None = None
    ) -> None:
        """localstripe POSTs each event (1 s after it happens, once) to ``url``, signed."""
        assert_loopback(url)
        data: dict[str, Any] = {"url": url, "secret": secret}
        if events is not None:
            data["events[]"] = events
        self._request("POST", f"/_config/webhooks/{name}", data=data)

    def flush(self) -> None:
        """Forget every object (webhook registrations stay)."""
        self._request("DELETE", "/_config/data")


def card_payment_method(base_url: str, number: str = "4242424242424242") -> str:
    """A card payment method on the loopback Stripe at ``base_url`` (raw test numbers are
    accepted there only; the gateway itself never sends card data)."""
    assert_loopback(base_url)
    data = {
        "type": "card",
        "card[number]": number,
        "card[exp_month]": "12",
        "card[exp_year]": "2034",
        "card[cvc]": "123",
    }
    response = requests.post(
        base_url + "/v1/payment_methods", data=data, auth=(LOCALSTRIPE_API_KEY, ""), timeout=10
    )
    response.raise_for_status()
    return str(response.json()["id"])


def is_loopback_stripe(api_base: str, api_key: str) -> bool:
    """Whether settings point at the loopback Stripe (the demo's, or a test's)."""
    return api_key == LOCALSTRIPE_API_KEY and urlsplit(api_base).hostname in LOOPBACK_HOSTS


def _read_port(process: subprocess.Popen[bytes], deadline: float) -> int:
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)
    buffer = b""
    while time.monotonic() < deadline and process.poll() is None:
        buffer += process.stdout.read() or b""
        if b"\n" in buffer:
            return int(buffer.split(b"\n", 1)[0].split()[1])
        time.sleep(0.02)
    raise RuntimeError("localstripe did not report its port")


def _wait_until_answering(base_url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            response = requests.get(
                base_url + "/v1/customers",
                params={"limit": 1},
                auth=(LOCALSTRIPE_API_KEY, ""),
                timeout=1,
            )
            if response.status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    raise RuntimeError("localstripe did not answer in time")


def start_localstripe(
    state_dir: Path, *, timeout: float = 20.0, keep_state: bool = False, port: int = 0
) -> LocalStripe:
    """Start the server on 127.0.0.1 (``port`` 0: a free one); its stderr goes to
    ``state_dir/stderr.log``. ``keep_state`` loads what a previous run saved there."""
    state_dir.mkdir(parents=True, exist_ok=True)
    stderr = open(state_dir / "stderr.log", "ab")  # the child keeps its own copy
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "billingsite.stripe_loopback.server"]
    cmd += ["--state-dir", str(state_dir), "--port", str(port)]
    if keep_state:
        cmd.append("--keep-state")
    process = subprocess.Popen(  # noqa: S603 (our own module, fixed arguments)
        cmd,
        cwd=state_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        start_new_session=True,
    )
    stderr.close()
    try:
        deadline = time.monotonic() + timeout
        base_url = f"http://127.0.0.1:{_read_port(process, deadline)}"
        assert_loopback(base_url)
        _wait_until_answering(base_url, deadline)
    except Exception as exc:
        stop_process(process)
        log = (state_dir / "stderr.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"localstripe failed to start: {exc}\n{log}") from exc
    return LocalStripe(base_url=base_url, state_dir=state_dir, process=process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
