"""The one JSON decoder for request bodies: strict where Python's ``json`` is lenient.

Every body Tally reads as JSON (``POST /api/v1/events``, the ``/compat/...`` vendor endpoints,
the Stripe webhook and every DRF view through ``StrictJSONParser``) goes through ``loads``,
which refuses, with a ``JSONRejected`` whose message says why:

- ``NaN``, ``Infinity``, ``-Infinity`` (not JSON; ``json`` accepts them by default);
- numbers a double cannot hold (``1e309`` would silently become ``inf``);
- lone UTF-16 surrogates (``"\\ud800"``) in keys or strings: they are not Unicode text, and
  would fail later when encoded for PostgreSQL or a log line (a pair is fine: it is one
  character);
- bytes that are not UTF-8;
- nesting deeper than ``MAX_DEPTH`` arrays/objects (without a limit, a body of ``[[[[...`` ends
  in a ``RecursionError``).

The stdlib decoder is kept (rather than e.g. orjson) because ingest needs its ``parse_float``
hook to see each number's digits (``imprecise_number``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 32
"""Arrays and objects may nest this deep (the outermost counts as 1). Stated in the README and
the API description; event properties rarely go beyond 3."""

# A \uD800-\uDFFF escape: the only way a surrogate gets into text decoded strictly from UTF-8.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class JSONRejected(ValueError):
    """The body is not JSON Tally accepts; ``str(exc)`` is the reason, safe to show."""


def finite_float(text: str) -> float:
    """``parse_float`` hook: a number that overflows a double is refused, not ``inf``."""
    value = float(text)
    if math.isinf(value):
        raise JSONRejected(f"The number {text[:40]} is out of range (it overflows a double).")
    return value


def _no_constant(name: str) -> Any:
    raise JSONRejected(f"{name} is not a JSON number.")


def loads(body: bytes | str, *, parse_float: Callable[[str], Any] = finite_float) -> Any:
    """Decode ``body`` strictly (see the module docstring); raises ``JSONRejected``.

    ``parse_float`` must itself refuse overflowing numbers (call ``finite_float``)."""
    if isinstance(body, str):
        raw = body.encode("utf-8", "surrogatepass")
    else:
        raw = body
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JSONRejected(f"The body is not UTF-8 ({exc.reason} at byte {exc.start}).") from exc
    try:
        document = json.loads(text, parse_float=parse_float, parse_constant=_no_constant)
    except JSONRejected:
        raise
    except RecursionError as exc:
        raise JSONRejected(_too_deep_message()) from exc
    except ValueError as exc:  # JSONDecodeError, and int() past sys's digit limit
        raise JSONRejected(str(exc)[:200]) from exc
    check_strings = _SURROGATE_ESCAPE.search(raw) is not None
    # Fewer brackets than the limit cannot nest past it: most small bodies skip the walk.
    if check_strings or raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:
        check_document(document, check_strings=check_strings)
    return document


def _too_deep_message() -> str:
    return f"Arrays and objects nest deeper than {MAX_DEPTH} levels."


def check_document(document: Any, *, check_strings: bool = True) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` and (when ``check_strings``) lone surrogates.

    Walks one nesting level at a time so the cost is one visit per container value."""
    level = [document] if type(document) in (dict, list) else []
    if check_strings and type(document) is str:
        _check_text(document)
    depth = 0
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            raise JSONRejected(_too_deep_message())
        below: list[Any] = []
        for container in level:
            if type(container) is dict:
                if check_strings:
                    for key in container:
                        _check_text(key)
                values = container.values()
            else:
                values = container
            for value in values:
                kind = type(value)
                if kind is dict or kind is list:
                    below.append(value)
                elif check_strings and kind is str:
                    _check_text(value)
        level = below


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = ord(text[exc.start])
        raise JSONRejected(
            f"A string holds a lone UTF-16 surrogate (\\u{bad:04x}); send valid Unicode."
        ) from exc
