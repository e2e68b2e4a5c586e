"""Canonical JSON for event properties with orjson, byte for byte what ``json`` writes.

Ingest encodes every event's properties canonically (sorted keys, no spaces, UTF-8 text); the
content hash and the stored ``properties`` are made from that text, so it must stay exactly
what the stdlib encoder wrote: a re-sent event must still be a duplicate, not a conflict.
orjson encodes about ten times faster but differs from ``json`` in two places, each detected
and sent to the stdlib encoder, which stays the definition:

- floats below 1e-4 in magnitude: orjson writes ``1e-05`` as ``0.00001`` and ``2.5e-07`` as
  ``2.5e-7``. Its output is searched for those shapes (a digit before ``e-``, or ``0.0000``;
  the same text inside a string also matches, and then the stdlib simply runs too);
- values orjson cannot encode (integers past 64 bits, ``ImpreciseNumber`` and other float
  subclasses) raise, and the stdlib encodes them.

Everything else (key order by code point, escapes of ``"``, ``\\`` and control characters,
other characters written as UTF-8, ``-0.0``, ``1e+16``) is identical;
``tests/metering/test_fastjson.py`` compares both encoders on generated documents.

Decoding stays with the stdlib (``billingsite.strictjson``): on a 1,000-event body orjson's
``loads`` was measured no faster (1.8 ms against 1.6 ms), and the strict decoder needs each
number's text to detect imprecise numbers (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_STDLIB_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False
).encode
_SORT_KEYS = orjson.OPT_SORT_KEYS
# A float written with a negative exponent (orjson: ``2.5e-7``; json: ``2.5e-07``).
_NEGATIVE_EXPONENT = re.compile(rb"[0-9]e-")


def canonical(value: Any) -> str:
    """``json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``'s
    text for ``value``, mostly computed by orjson."""
    try:
        out = orjson.dumps(value, option=_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError: big integers, float subclasses
        return _STDLIB_CANONICAL(value)
    if b"0.0000" in out or (b"e-" in out and _NEGATIVE_EXPONENT.search(out)):
        return _STDLIB_CANONICAL(value)
    return out.decode()


def stdlib_canonical(value: Any) -> str:
    """The reference encoding (``canonical`` must equal it for every value)."""
    return _STDLIB_CANONICAL(value)
