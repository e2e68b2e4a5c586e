"""The canonical properties text (content hash and stored properties) is byte for byte what the
stdlib encoder wrote before orjson computed it: a re-sent event stays a duplicate, and the
hashes of events stored before the change still match."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from metering.ingest.fastjson import canonical, stdlib_canonical
from metering.ingest.wire import ImpreciseNumber, content_hash

# Text without lone surrogates (the strict decoder refuses them before any encoding).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
SCALARS = (
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | FLOATS | TEXT
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(TEXT, DOCUMENTS, max_size=6))
def test_canonical_equals_the_stdlib_encoding(properties):
    assert canonical(properties) == stdlib_canonical(properties)


def test_the_shapes_where_orjson_differs_are_written_as_the_stdlib_writes_them():
    # orjson alone writes 1e-05 as 0.00001 and 2.5e-07 as 2.5e-7.
    tricky = {
        "tiny": 1e-05,
        "tinier": 2.5e-07,
        "edge": 0.0001,
        "subnormal": 5e-324,
        "negative": -3.3e-9,
        "big": 1e16,
        "huge": 1.7976931348623157e308,
        "zero": -0.0,
        "beyond_64_bits": 2**64,
        "imprecise": ImpreciseNumber(0.1),
        "text with e-5 and 0.00001": "page-view 1e-5 0.00001",
        "nul": "\x00",
        "controls": "\x1f\x7f\u2028\u00e9",
    }
    for key, value in tricky.items():
        assert canonical({key: value}) == stdlib_canonical({key: value}), key
    assert canonical(tricky) == stdlib_canonical(tricky)
    assert canonical({}) == "{}"


def test_a_hash_computed_before_the_change_still_matches():
    """The content hash of a common event, pinned as the stdlib-only code computed it."""
    properties = json.loads('{"region": "eu", "bytes": 1024, "ratio": 0.25, "tags": ["a", "b"]}')
    text = canonical(properties)
    assert text == '{"bytes":1024,"ratio":0.25,"region":"eu","tags":["a","b"]}'
    digest = content_hash("acme", "api_request", None, text)
    assert digest.hex() == "78d73610a74666c49a2e82a3727ea9c3"
