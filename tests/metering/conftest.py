from __future__ import annotations

from collections.abc import Iterator

import pytest
import time_machine

from tests.metering.helpers import NOW


@pytest.fixture
def frozen_now() -> Iterator[None]:
    """Pin 'now' so timestamps in tests stay inside the ingest window."""
    with time_machine.travel(NOW, tick=True):
        yield
