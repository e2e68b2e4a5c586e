"""Prometheus: outcome counters and the rollup lag gauge at /metrics."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine

from metering.services import events_ingest, rollup_drain
from tests.metering.helpers import NOW, event

pytestmark = [pytest.mark.django_db]


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match, name
    return float(match.group(1))


def test_rollup_lag_and_outcome_counters(client, customer):
    with time_machine.travel(NOW, tick=False):
        before = client.get("/metrics").content.decode()
        accepted_before = (
            metric(before, 'tally_events_total{outcome="accepted"}')
            if 'outcome="accepted"' in before
            else 0.0
        )
        events_ingest(
            api_key=None,
            events=[
                event("m1", at=NOW),
                event("m2", at=NOW),
                event("m3", customer="ghost", at=NOW),
            ],
        )
    with time_machine.travel(NOW + timedelta(seconds=42), tick=False):
        text = client.get("/metrics").content.decode()
    assert metric(text, "tally_rollup_lag_seconds") == pytest.approx(42, abs=1)
    assert metric(text, "tally_rollup_backlog_events") == 2
    assert metric(text, "tally_events_unattributed") == 1
    assert metric(text, 'tally_events_total{outcome="accepted"}') == accepted_before + 2
    rollup_drain()
    drained = client.get("/metrics").content.decode()
    assert metric(drained, "tally_rollup_lag_seconds") == 0
    assert metric(drained, "tally_rollup_backlog_events") == 0
