"""Nightly invariants: beat runs every check_invariants check and records the result, counted
per check in /metrics and shown on the admin dashboard; the checks also catch a rollup queue
that stopped moving and outbox rows that were never sent."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from billingsite.celery import app
from billingsite.invariant_runs.models import InvariantRun
from billingsite.invariants import registered_checks
from billingsite.models import OutboxMessage, OutboxState
from metering.models import RollupQueue
from metering.services import events_ingest
from tests.metering.helpers import event

pytestmark = pytest.mark.django_db

STALLED = 'tally_invariant_violations{check="metering.rollup_queue_moving"}'
OUTBOX = 'tally_invariant_violations{check="billingsite.outbox_rows_moving"}'


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match, name
    return float(match.group(1))


def stall_rollup_queue(seconds: int) -> None:
    """Events acknowledged, then no rollup worker for ``seconds``."""
    events_ingest(api_key=None, events=[event("e1", at=timezone.now())])
    RollupQueue.objects.update(created_at=timezone.now() - timedelta(seconds=seconds))


def old_outbox_row(state: str, key: str, seconds: int) -> OutboxMessage:
    row = OutboxMessage.objects.create(
        topic="stripe.refund", key=key, state=state, next_attempt_at=timezone.now()
    )
    OutboxMessage.objects.filter(pk=row.pk).update(
        created_at=timezone.now() - timedelta(seconds=seconds)
    )
    return row


def check(capsys, name: str) -> str:
    call_command("check_invariants", "--only", name)
    return capsys.readouterr().out


def test_check_invariants_exits_1_on_a_stalled_rollup_queue(capsys, client, customer):
    threshold = settings.METERING_ROLLUP_STALL_SECONDS
    stall_rollup_queue(threshold - 60)
    assert "BROKEN" not in check(capsys, "rollup_queue_moving")
    assert client.get("/readyz").json()["warnings"] == []

    RollupQueue.objects.update(created_at=timezone.now() - timedelta(seconds=threshold + 60))
    with pytest.raises(CommandError, match="1 of 1"):
        check(capsys, "rollup_queue_moving")
    out = capsys.readouterr().out
    assert f"1 batch(es) (1 events) waiting longer than {threshold} s" in out
    ready = client.get("/readyz")
    assert ready.status_code == 200  # web servers stay in the load balancer ...
    assert "rollup queue stalled" in ready.json()["warnings"][0]  # ... but it says so
    assert metric(client.get("/metrics").content.decode(), "tally_rollup_lag_seconds") > threshold


def test_check_invariants_exits_1_on_an_outbox_row_older_than_the_threshold(capsys):
    threshold = settings.OUTBOX_STALL_SECONDS
    old_outbox_row(OutboxState.SENT, "refund:1", threshold * 5)  # sent long ago: fine
    old_outbox_row(OutboxState.PENDING, "refund:2", threshold - 60)  # young: fine
    assert "BROKEN" not in check(capsys, "outbox_rows_moving")

    old_outbox_row(OutboxState.FAILED, "refund:3", threshold + 60)
    old_outbox_row(OutboxState.PENDING, "refund:4", threshold + 60)
    with pytest.raises(CommandError, match="1 of 1"):
        check(capsys, "outbox_rows_moving")
    out = capsys.readouterr().out
    assert "outbox stripe.refund refund:3: failed since" in out
    assert "outbox stripe.refund refund:4: pending since" in out
    assert "refund:1" not in out and "refund:2" not in out


def test_beat_runs_every_check_nightly_and_records_the_result(client, customer):
    entry = settings.CELERY_BEAT_SCHEDULE["invariants-check"]
    assert entry["task"] == "billingsite.invariants_check"
    assert isinstance(entry["schedule"], crontab)
    assert entry["schedule"].remaining_estimate(timezone.now()) <= timedelta(days=1)
    task = app.tasks["billingsite.invariants_check"]

    first = task.apply().get()  # sound data: every check passes
    run = InvariantRun.objects.get(pk=first["run"])
    assert first["failed"] == 0 and run.failed == 0
    assert run.checks == len(registered_checks()) == len(run.results)
    names = {r["name"] for r in run.results}
    assert {"metering.rollup_queue_moving", "billingsite.outbox_rows_moving"} <= names
    text = client.get("/metrics").content.decode()
    assert metric(text, STALLED) == 0 and metric(text, OUTBOX) == 0

    stall_rollup_queue(settings.METERING_ROLLUP_STALL_SECONDS + 60)
    old_outbox_row(OutboxState.PENDING, "refund:9", settings.OUTBOX_STALL_SECONDS + 60)
    for _ in range(2):
        task.apply().get()
    latest = InvariantRun.objects.order_by("-id").first()
    assert latest.failed == 2
    assert {r["name"] for r in latest.failing} == {
        "metering.rollup_queue_moving",
        "billingsite.outbox_rows_moving",
    }
    text = client.get("/metrics").content.decode()
    assert metric(text, STALLED) == 1 and metric(text, OUTBOX) == 1
    failed_runs = 'tally_invariant_check_failed_runs{check="metering.rollup_queue_moving"}'
    assert metric(text, failed_runs) == 2
    assert metric(text, "tally_invariant_last_run_timestamp_seconds") == pytest.approx(
        latest.started_at.timestamp()
    )

    admin = Client()
    admin.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    home = admin.get("/admin/").content.decode()
    assert "Invariant checks (nightly)" in home
    assert "the rollup queue keeps moving" in home and "outbox rows are sent within" in home
    detail = admin.get(f"/admin/billingsite/invariantrun/{latest.pk}/change/")
    assert detail.status_code == 200 and b"refund:9" in detail.content


def test_a_check_that_raises_is_recorded_as_failed_and_the_others_still_run(monkeypatch):
    from billingsite.invariant_runs import services
    from billingsite.invariants import Check

    def broken():
        raise RuntimeError("boom")
        yield

    checks = services.registered_checks()
    monkeypatch.setattr(
        services, "registered_checks", lambda: [Check(0, "always raises", broken), *checks]
    )
    run = services.invariants_run(trigger="test")
    assert run.failed == 1 and run.checks == len(checks) + 1
    assert run.failing[0]["error"] == "RuntimeError: boom"
