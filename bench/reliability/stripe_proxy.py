"""A fault-injecting proxy in front of the loopback Stripe, on 127.0.0.1.

Tally's gateway talks to the proxy; the proxy forwards to localstripe, or, in a fault mode:

- ``500`` / ``429``: answers that status without forwarding (``Retry-After`` on 429);
- ``500-after``: forwards (the object is created on Stripe), then answers 500 — the reply is
  lost, so only the retry's idempotency key stands between Tally and a second object;
- ``timeout``: forwards, then holds the answer longer than the client's read timeout;
- ``stall``: forwards, then holds the answer until the mode changes (a send frozen mid-flight
  while a scenario kills the worker).

Every POST carrying an ``Idempotency-Key`` is recorded with the object id Stripe answered, so
a scenario can check "one Stripe object per idempotency key".
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class StripeFaultProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str, *, hold_seconds: float = 8.0) -> None:
        parts = urlsplit(upstream)
        assert parts.hostname in ("127.0.0.1", "localhost"), upstream
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.hold_seconds = hold_seconds
        self.mode = "ok"
        self.lock = threading.Lock()
        self.answered: Counter[str] = Counter()  # mode -> requests answered in it
        self.objects_by_key: dict[str, set[str]] = defaultdict(set)
        self.stalled = 0
        super().__init__(("127.0.0.1", 0), _Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def set_mode(self, mode: str) -> None:
        assert mode in ("ok", "500", "429", "500-after", "timeout", "stall"), mode
        self.mode = mode

    def record(self, key: str | None, body: bytes) -> None:
        if not key:
            return
        try:
            object_id = json.loads(body).get("id")
        except (ValueError, AttributeError):
            return
        if object_id:
            with self.lock:
                self.objects_by_key[key].add(str(object_id))

    def keys_with_several_objects(self) -> dict[str, list[str]]:
        with self.lock:
            return {k: sorted(v) for k, v in self.objects_by_key.items() if len(v) > 1}

    def handle_error(self, request: object, client_address: object) -> None:
        """A reply to a client that died meanwhile (the killed worker) is expected here."""

    def close(self) -> None:
        self.mode = "ok"
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: StripeFaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def _answer(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in HOP_HEADERS:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int) -> None:
        kind = "rate_limit_error" if status == 429 else "api_error"
        body = json.dumps({"error": {"type": kind, "message": f"injected {status}"}}).encode()
        headers = [("Content-Type", "application/json")]
        if status == 429:
            headers.append(("Retry-After", "1"))
        self._answer(status, body, headers)

    def _forward(self, body: bytes) -> tuple[int, bytes, list[tuple[str, str]]]:
        conn = http.client.HTTPConnection(
            self.server.upstream_host, self.server.upstream_port, timeout=30
        )
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
        conn.request(self.command, self.path, body=body or None, headers=headers)
        response = conn.getresponse()
        answer = response.read()
        conn.close()
        return response.status, answer, response.getheaders()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        mode = self.server.mode
        self.server.answered[mode] += 1
        if mode in ("500", "429"):
            self._error(int(mode))
            return
        status, answer, headers = self._forward(body)
        if self.command == "POST" and 200 <= status < 300:
            self.server.record(self.headers.get("Idempotency-Key"), answer)
        if mode == "500-after":
            self._error(500)
            return
        if mode == "timeout":
            time.sleep(self.server.hold_seconds)
        elif mode == "stall":
            self.server.stalled += 1
            while self.server.mode == "stall":
                time.sleep(0.1)
        self._answer(status, answer, headers)

    do_GET = do_POST = do_DELETE = _handle
