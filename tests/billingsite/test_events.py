from collections.abc import Mapping
from typing import Any

import pytest

from billingsite import events


@pytest.mark.django_db  # the registered listeners (webhooks) write rows
def test_emit_reaches_every_registered_listener_with_its_key():
    heard: list[tuple[str, str, dict[str, Any]]] = []

    def listener(event_type: str, data: Mapping[str, Any], *, key: str) -> None:
        heard.append((event_type, key, dict(data)))

    events.register_listener("test-listener", listener)
    try:
        events.emit("invoice.finalized", {"number": "T-1"}, key="invoice.finalized:1")
    finally:
        events.unregister_listener("test-listener")
    assert heard == [("invoice.finalized", "invoice.finalized:1", {"number": "T-1"})]
    assert "test-listener" not in events.listeners()


def test_an_event_without_a_key_is_refused():
    with pytest.raises(ValueError):
        events.emit("invoice.finalized", {}, key="")
