"""Test harness for Stripe: localstripe on loopback, a recording HTTP client, signed webhooks.

Fixtures (registered for the whole suite by tests/conftest.py):

- ``localstripe`` (session): a localstripe server on 127.0.0.1, state in a per-session tmp dir,
  with Stripe-like idempotency (billingsite/stripe_loopback/, also the demo's Stripe). Yields
  ``LocalStripe``.
- ``localstripe_gateway``: a ``StripeGateway`` pointed at it.
- ``localstripe_settings``: settings (``STRIPE_API_BASE``/``STRIPE_API_KEY``) pointed at it, so
  code that calls ``default_gateway()`` (tasks, services) reaches localstripe.
- ``recording_client`` / ``recording_gateway``: the SDK talks to ``RecordingHTTPClient``;
  ``recording_default_gateway`` makes ``default_gateway()`` return that gateway.
- ``_stripe_never_real`` (autouse): a test that configures nothing reaches a dead loopback port,
  never the real Stripe.

Helpers: ``sign_webhook(payload, secret)``, ``stripe_event(type, obj)``, ``fixture_object(name)``.
See docs/stripe-testing.md for what localstripe supports.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from billingsite.stripe_loopback.process import (
    LOCALSTRIPE_API_KEY,
    LOOPBACK_HOSTS,
    LocalStripe,
    start_localstripe,
    stop_process,
)
from invoicing.stripe.config import GatewayConfig
from invoicing.stripe.gateway import StripeGateway
from tests.stripe.canned import fixture_object
from tests.stripe.recording import RecordingHTTPClient

__all__ = [
    "DEAD_LOOPBACK",
    "LOCALSTRIPE_API_KEY",
    "LocalStripe",
    "RecordingHTTPClient",
    "assert_loopback",
    "fixture_object",
    "gateway_for",
    "localstripe",
    "localstripe_gateway",
    "localstripe_settings",
    "recording_client",
    "recording_default_gateway",
    "recording_gateway",
    "sign_webhook",
    "start_localstripe",
    "stop_process",
    "stripe_event",
]

DEAD_LOOPBACK = "http://127.0.0.1:9"  # the discard port: connection refused, fast


def assert_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    assert host in LOOPBACK_HOSTS, f"tests may only talk to loopback, not {url!r}"


# --- localstripe (billingsite.stripe_loopback) -------------------------------------------


@pytest.fixture(scope="session")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStripe]:
    server = start_localstripe(tmp_path_factory.mktemp("localstripe"))
    try:
        yield server
    finally:
        stop_process(server.process)


def gateway_for(base_url: str, *, http_client: Any = None) -> StripeGateway:
    assert_loopback(base_url)
    config = GatewayConfig(
        api_key=LOCALSTRIPE_API_KEY,
        api_base=base_url,
        api_version=settings.STRIPE_API_VERSION,
        connect_timeout=2.0,
        read_timeout=10.0,
    )
    return StripeGateway(config, http_client=http_client)


@pytest.fixture
def localstripe_gateway(localstripe: LocalStripe) -> StripeGateway:
    return gateway_for(localstripe.base_url)


@pytest.fixture
def localstripe_settings(localstripe: LocalStripe, settings: Any) -> LocalStripe:
    settings.STRIPE_API_BASE = localstripe.base_url
    settings.STRIPE_API_KEY = LOCALSTRIPE_API_KEY
    return localstripe


@pytest.fixture(autouse=True)
def _stripe_never_real(settings: Any) -> None:
    """Unless a test points Stripe somewhere on loopback itself, it points at a dead port."""
    base = settings.STRIPE_API_BASE
    if not base or urlsplit(base).hostname not in LOOPBACK_HOSTS:
        settings.STRIPE_API_BASE = DEAD_LOOPBACK
        settings.STRIPE_API_KEY = "sk_test_tally_unused"


# --- recording client ------------------------------------------------------------------------


@pytest.fixture
def recording_client() -> RecordingHTTPClient:
    return RecordingHTTPClient()


@pytest.fixture
def recording_gateway(recording_client: RecordingHTTPClient) -> StripeGateway:
    return gateway_for("http://127.0.0.1:1", http_client=recording_client)


@pytest.fixture
def recording_default_gateway(
    recording_gateway: StripeGateway, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> StripeGateway:
    """Make ``default_gateway()`` (what tasks and services call) return ``recording_gateway``."""
    import invoicing.stripe.gateway as gateway_module

    settings.STRIPE_API_BASE = recording_gateway.config.api_base
    settings.STRIPE_API_KEY = recording_gateway.config.api_key
    monkeypatch.setattr(gateway_module, "_gateway_for", lambda config: recording_gateway)
    return recording_gateway


# --- fixtures3.json objects, events and signatures -------------------------------------------


def stripe_event(
    event_type: str,
    obj: dict[str, Any] | str,
    *,
    previous_attributes: dict[str, Any] | None = None,
    **overrides: Any,
) -> bytes:
    """The exact bytes of an event delivery wrapping ``obj`` (a dict, or a fixtures3 name).

    ``overrides`` replace envelope fields (``id``, ``created``, ``api_version``, ...)."""
    data_object = fixture_object(obj) if isinstance(obj, str) else obj
    created = int(time.time())
    envelope: dict[str, Any] = {
        "id": "evt_"
        + hashlib.sha256(f"{event_type}{created}{time.perf_counter_ns()}".encode()).hexdigest()[
            :24
        ],
        "object": "event",
        "api_version": settings.STRIPE_API_VERSION,
        "created": created,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": data_object},
    }
    if previous_attributes is not None:
        envelope["data"]["previous_attributes"] = previous_attributes
    envelope.update(overrides)
    return json.dumps(envelope, separators=(",", ":")).encode("utf-8")


def sign_webhook(
    payload: bytes,
    secret: str,
    timestamp: int | None = None,
    *,
    extra_secrets: tuple[str, ...] = (),
) -> str:
    """A ``Stripe-Signature`` header for ``payload``: ``t=<ts>,v1=<hmac>[,v1=<hmac>...]``.

    Written independently of invoicing.stripe.signatures (straight from Stripe's documented
    scheme) so the tests do not check the verifier against itself. ``extra_secrets`` add more
    ``v1`` entries, as Stripe does while an endpoint secret is being rolled."""
    ts = int(time.time()) if timestamp is None else timestamp
    parts = [f"t={ts}"]
    for key in (secret, *extra_secrets):
        mac = hmac.new(key.encode(), f"{ts}.".encode() + payload, hashlib.sha256)
        parts.append(f"v1={mac.hexdigest()}")
    return ",".join(parts)
