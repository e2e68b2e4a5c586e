from __future__ import annotations

from collections.abc import Iterator

import pytest
import time_machine
from django.test import override_settings

from tests.metering.helpers import NOW


@pytest.fixture
def frozen_now() -> Iterator[None]:
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def chdb_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A chdb store for this test process, emptied before each test (chdb keeps one session
    per process, so the path is per session and worker; PostgreSQL rolls back, the engine's
    tables are truncated here)."""
    from metering.stores.columnar.store import store_for

    url = f"chdb:{tmp_path_factory.getbasetemp() / 'chdb'}"  # fresh per session and worker
    store = store_for(url)
    with store.lock:
        for (name,) in store.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase()"
            " AND engine = 'MaterializedView' AND name LIKE 'mv_rollup_%'"
        ):
            store.engine.command(f"DROP VIEW {name}")
        for table in ("events", "event_keys", "daily_counts", "usage_rollup", "unique_values",
                      "rollup_views"):  # fmt: skip
            store.engine.command(f"TRUNCATE TABLE {table}")
        store._views.clear()
        store._next_id = 1
    with override_settings(TALLY_EVENT_STORE=url):
        yield url
