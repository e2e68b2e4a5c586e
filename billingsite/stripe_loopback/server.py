"""Run localstripe (for the tests and the demo): loopback only, private state file, Stripe-like
idempotency.

    python -m billingsite.stripe_loopback.server --state-dir DIR [--port 0]

Prints ``PORT <n>`` on stdout once listening. Four differences from ``localstripe --port N``:

- it binds 127.0.0.1 (localstripe binds every interface, ``::``);
- localstripe pickles its whole store to the fixed path ``/tmp/localstripe.pickle`` after every
  write, shared by every process on the machine; here the store lives in ``DIR`` instead, and
  starts empty (``--from-scratch`` semantics);
- localstripe ignores ``Idempotency-Key``. A middleware adds Stripe's documented behaviour
  (https://docs.stripe.com/api/idempotent_requests): the first answer to a POST with a key
  (2xx, or a 402 card error) is saved and replayed, with ``Idempotent-Replayed: true``, for a
  repeat with the same path and body; the same key with other parameters gets 400
  ``idempotency_error``; a repeat while the first is still running gets 409. Other errors are not
  saved (Stripe does not save validation failures either), so a retry re-executes;
- Tally's invoice flow (no subscriptions; finalize, send, ``invoice.paid``) is added by
  billingsite/stripe_loopback/invoices.py, and refunds accept Stripe's ``reason``.

``--keep-state`` loads the objects a previous run saved in ``DIR`` (the demo's runs).

This file only needs aiohttp and localstripe (a dev dependency, installed by ``bin/tally``): it
runs in its own process without Django. ``billingsite.stripe_loopback.process`` starts it.
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from localstripe import resources, server
from localstripe.errors import UserError

from billingsite.stripe_loopback import invoices as localstripe_invoices

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def use_state_file(path: Path) -> None:
    """Point localstripe's store persistence at ``path`` (its own code hard-codes /tmp)."""

    def dump_to_disk(store: resources.Store) -> None:
        with open(path, "wb") as handle:
            pickle.dump(dict(store), handle, protocol=pickle.HIGHEST_PROTOCOL)

    resources.Store.dump_to_disk = dump_to_disk  # type: ignore[method-assign]
    resources.Store.try_load_from_disk = lambda store: None  # type: ignore[method-assign]


def load_state_file(path: Path) -> None:
    """Start from the objects a previous run saved (the demo keeps its Stripe ids in its
    database between runs; the tests always start empty)."""
    if path.exists():
        with open(path, "rb") as handle:
            dict.update(resources.store, pickle.load(handle))  # noqa: S301 (our own file)


def accept_refund_reason() -> None:
    """localstripe 1.15 refuses ``reason`` on a refund (400 "Unexpected reason"); Stripe takes
    ``duplicate``, ``fraudulent`` or ``requested_by_customer`` and returns it on the refund."""
    original = resources.Refund.__init__

    def init(self: object, *args: object, reason: object = None, **kwargs: object) -> None:
        if reason not in (None, "duplicate", "fraudulent", "requested_by_customer"):
            raise UserError(400, f"Invalid reason: {reason}")
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        self.reason = reason  # type: ignore[attr-defined]

    resources.Refund.__init__ = init  # type: ignore[method-assign]


def idempotency_middleware() -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    saved: dict[tuple[str, str], tuple[str, int, bytes]] = {}
    running: set[tuple[str, str]] = set()

    def error(status: int, message: str, code: str | None = None) -> web.Response:
        body: dict[str, object] = {"type": "idempotency_error", "message": message}
        if code:
            body["code"] = code
        return web.json_response({"error": body}, status=status)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key or request.path.startswith("/_config/"):
            return await handler(request)
        scope = (request.headers.get("Authorization", ""), key)
        body = await request.read()
        fingerprint = hashlib.sha256(request.path.encode() + b"\n" + body).hexdigest()
        if scope in saved:
            first_fingerprint, status, body = saved[scope]
            if first_fingerprint != fingerprint:
                return error(
                    400,
                    "Keys for idempotent requests can only be used with the same "
                    "parameters they were first used with.",
                )
            replay = web.Response(body=body, status=status, content_type="application/json")
            replay.headers["Idempotent-Replayed"] = "true"
            return replay
        if scope in running:
            return error(
                409,
                "There is currently another in-progress request using this idempotency key.",
                code="idempotency_key_in_use",
            )
        running.add(scope)
        try:
            response = await handler(request)
        finally:
            running.discard(scope)
        answer = getattr(response, "body", None)
        if isinstance(answer, bytes) and (200 <= response.status < 300 or response.status == 402):
            saved[scope] = (fingerprint, response.status, answer)
        return response

    return middleware


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--keep-state", action="store_true", help="load the saved objects")
    args = parser.parse_args(argv)
    use_state_file(args.state_dir / "localstripe.pickle")
    if args.keep_state:
        load_state_file(args.state_dir / "localstripe.pickle")
    accept_refund_reason()
    localstripe_invoices.install()
    server.app.middlewares.insert(0, idempotency_middleware())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sys.stdout.write(f"PORT {sock.getsockname()[1]}\n")
    sys.stdout.flush()
    web.run_app(server.app, sock=sock, print=None, access_log=None)


if __name__ == "__main__":
    main()
