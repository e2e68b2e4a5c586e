"""One event must never stop rollups for everyone: a row the rollup worker cannot apply is
isolated down to the failing event, quarantined with the database's reason (admin, /metrics,
check_invariants, /readyz) while every other event rolls up; a replay after the fix applies it
exactly once."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from metering.invariants import rollup_mismatches
from metering.models import QuarantinedRollup, RollupQueue
from metering.selectors import usage_for_period
from metering.services import events_ingest, meter_create, rollup_drain
from tests.factories import CustomerFactory
from tests.metering.helpers import NOW, event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]


@pytest.fixture
def tokens_meter():
    return meter_create(
        key="tokens", name="Tokens", event_type="llm", aggregation="sum", value_property="tokens"
    )


@pytest.fixture
def admin_client_() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def tokens(customer, meter) -> object:
    start = NOW.replace(hour=0, minute=0)
    return usage_for_period(
        customer=customer, meter=meter, start=start, end=start + timedelta(days=1)
    ).total


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match, name
    return float(match.group(1))


def store_overflowing_event(event_id: str, customer: str = "acme") -> None:
    """An event as an older Tally accepted it (or as a repair script might leave it): its value
    overflows the rollup bucket (numeric(38, 12) holds less than 10^26)."""
    result = events_ingest(
        api_key=None, events=[event(event_id, customer, "llm", at=NOW, tokens=1)]
    )
    assert result.events[0]["status"] == "accepted"
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE metering_usageevent SET properties = '{\"tokens\": 1e27}' WHERE event_id = %s",
            [event_id],
        )


def test_a_failing_event_is_quarantined_and_everyone_else_rolls_up(client, tokens_meter):
    acme = CustomerFactory(external_id="acme")
    globex = CustomerFactory(external_id="globex")
    events_ingest(
        api_key=None,
        events=[event(f"a{i}", "acme", "llm", at=NOW, tokens=10) for i in range(5)]
        + [event(f"g{i}", "globex", "llm", at=NOW, tokens=7) for i in range(4)],
    )
    store_overflowing_event("bad")
    events_ingest(  # a later batch, of both customers
        api_key=None,
        events=[
            event("a-late", "acme", "llm", at=NOW, tokens=1),
            event("g-late", "globex", "llm", at=NOW, tokens=2),
        ],
    )
    metrics_before = client.get("/metrics").content.decode()
    quarantined_before = metric(metrics_before, "tally_rollup_quarantined_total")

    applied = rollup_drain()  # before the fix: DataError "numeric field overflow", every run

    assert applied == 11
    assert tokens(acme, tokens_meter) == 51 and tokens(globex, tokens_meter) == 30
    entry = QuarantinedRollup.objects.get()
    assert entry.error_code == "22003" and "numeric field overflow" in entry.reason
    assert entry.quarantined_at is not None and entry.attempts == 1
    assert len(entry.event_pks) == 1
    assert RollupQueue.objects.count() == 1  # only the quarantined row is left
    assert rollup_mismatches() == {}  # quarantined events count as still waiting
    text = client.get("/metrics").content.decode()
    assert metric(text, "tally_rollup_quarantined_total") == quarantined_before + 1
    assert metric(text, "tally_rollup_quarantined_events") == 1
    assert metric(text, "tally_rollup_backlog_events") == 0
    assert metric(text, "tally_rollup_lag_seconds") == 0  # the queue itself keeps moving
    assert rollup_drain() == 0  # the worker skips it from now on
    ready = client.get("/readyz").json()
    assert ready["status"] == "ok"
    assert ready["warnings"] == ["1 event(s) quarantined out of the rollups"]
    with pytest.raises(CommandError):
        call_command("check_invariants", "--only", "no_quarantined_rollups")


def test_replay_from_the_admin_reports_each_row_and_applies_once_after_the_fix(
    admin_client_, tokens_meter
):
    acme = CustomerFactory(external_id="acme")
    events_ingest(api_key=None, events=[event("ok", "acme", "llm", at=NOW, tokens=3)])
    store_overflowing_event("bad")
    rollup_drain()
    entry = QuarantinedRollup.objects.get()
    url = "/admin/metering/quarantinedrollup/"
    listed = admin_client_.get(url)
    assert listed.status_code == 200 and b"numeric field overflow" in listed.content

    still = admin_client_.post(
        url, {"action": "replay", "_selected_action": [entry.pk]}, follow=True
    )
    text = [str(m) for m in still.context["messages"]]
    assert len(text) == 1 and f"#{entry.pk}: still failing" in text[0]
    entry.refresh_from_db()
    assert entry.attempts == 2 and tokens(acme, tokens_meter) == 3

    with connection.cursor() as cursor:  # the fix: the sender's corrected value
        cursor.execute(
            "UPDATE metering_usageevent SET properties = '{\"tokens\": 40}' WHERE event_id = 'bad'"
        )
    done = admin_client_.post(
        url, {"action": "replay", "_selected_action": [entry.pk]}, follow=True
    )
    assert [str(m) for m in done.context["messages"]] == [f"#{entry.pk}: 1 event(s) rolled up"]
    assert not RollupQueue.objects.exists()
    assert tokens(acme, tokens_meter) == 43
    rollup_drain()
    assert tokens(acme, tokens_meter) == 43  # applied exactly once
    assert rollup_mismatches() == {}
    again = admin_client_.post(
        url, {"action": "replay", "_selected_action": [entry.pk]}, follow=True
    )
    assert again.status_code == 200  # the row is gone: nothing selected, nothing applied twice
    assert tokens(acme, tokens_meter) == 43


def test_a_bucket_whose_sum_overflows_quarantines_only_the_event_that_tips_it(tokens_meter):
    acme = CustomerFactory(external_id="acme")
    globex = CustomerFactory(external_id="globex")
    events_ingest(
        api_key=None,
        events=[
            event("a1", "acme", "llm", at=NOW, tokens=1),
            event("a2", "acme", "llm", at=NOW, tokens=1),
            event("g1", "globex", "llm", at=NOW, tokens=5),
        ],
    )
    with connection.cursor() as cursor:  # each fits a bucket on its own; together they do not
        cursor.execute(
            "UPDATE metering_usageevent SET properties = '{\"tokens\": 6e25}'"
            " WHERE event_id IN ('a1', 'a2')"
        )
    assert rollup_drain() == 2
    assert tokens(globex, tokens_meter) == 5
    assert tokens(acme, tokens_meter) == 6 * 10**25
    assert QuarantinedRollup.objects.count() == 1
    assert rollup_mismatches() == {}


def test_many_failing_events_are_a_systemic_problem_and_roll_the_run_back(
    monkeypatch, tokens_meter
):
    from django.db import DataError

    from metering.services import rollups

    acme = CustomerFactory(external_id="acme")
    events_ingest(api_key=None, events=[event("ok", "acme", "llm", at=NOW, tokens=3)])
    for n in range(3):
        store_overflowing_event(f"bad{n}")
    monkeypatch.setattr(rollups, "MAX_QUARANTINED_PER_RUN", 2)
    with pytest.raises(DataError, match="numeric field overflow"):
        rollup_drain()
    # Nothing applied, nothing quarantined: every batch still waits (the stall check fires).
    assert not QuarantinedRollup.objects.exists()
    assert RollupQueue.objects.filter(quarantined_at__isnull=True).count() == 4
    assert tokens(acme, tokens_meter) == 0
