"""A synchronous face on nats-py (asyncio) for Django's sync views, commands and tests.

One background thread per process runs an event loop with one NATS connection; callers submit
coroutines and wait for their result with a deadline. The client is made lazily and again after
a fork (gunicorn workers), so no loop or socket is shared between processes.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import nats
from django.conf import settings
from nats.aio.client import Client
from nats.js import JetStreamContext, api
from nats.js.errors import BadRequestError

from metering import eventlog

T = TypeVar("T")


class EventLogUnavailable(Exception):
    """The log did not acknowledge in time (no server, no quorum, timeout)."""


class LogClient:
    def __init__(self, servers: list[str], timeout: float) -> None:
        self.servers = servers
        self.timeout = timeout
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="nats")
        self._thread.start()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._lock = threading.Lock()
        self.stream_ready = False

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result((timeout or self.timeout) + 1)
        except EventLogUnavailable:
            raise
        except Exception as exc:
            future.cancel()
            raise EventLogUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def js(self) -> JetStreamContext:
        if self._nc is None or self._nc.is_closed:
            self._nc = await nats.connect(
                servers=self.servers,
                connect_timeout=min(self.timeout, 2),
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.25,
                name=f"tally-{os.getpid()}",
            )
            self._js = self._nc.jetstream(timeout=self.timeout)
        assert self._js is not None
        if not self.stream_ready:
            await ensure_stream(self._js)
            self.stream_ready = True
        return self._js

    def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            try:
                self.run(self._nc.close(), timeout=2)
            except EventLogUnavailable:
                pass
        self.loop.call_soon_threadsafe(self.loop.stop)


async def ensure_stream(js: JetStreamContext) -> api.StreamInfo:
    """The one stream with every partition's subject; created when missing (idempotent)."""
    name = eventlog.stream_name()
    try:
        return await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        pass
    config = api.StreamConfig(
        name=name,
        subjects=[f"{eventlog.subject_prefix()}.*"],
        num_replicas=int(settings.TALLY_EVENT_LOG_REPLICAS),
        duplicate_window=float(settings.TALLY_EVENT_LOG_DEDUP_SECONDS),
        storage=api.StorageType.FILE,
        retention=api.RetentionPolicy.LIMITS,
        max_age=7 * 86_400.0,
    )
    try:
        return await js.add_stream(config)
    except BadRequestError:  # created concurrently by another process
        return await js.stream_info(name)


_CLIENTS: dict[tuple[int, str], LogClient] = {}
_CLIENTS_LOCK = threading.Lock()


def log_client() -> LogClient:
    """This process's client for the configured log."""
    key = (os.getpid(), settings.TALLY_EVENT_LOG)
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = LogClient(eventlog.servers(), float(settings.TALLY_EVENT_LOG_TIMEOUT_SECONDS))
            _CLIENTS[key] = client
    return client


def reset_clients() -> None:
    """Close every client of this process (tests switching servers)."""
    with _CLIENTS_LOCK:
        for (pid, _url), client in list(_CLIENTS.items()):
            if pid == os.getpid():
                client.close()
        _CLIENTS.clear()
