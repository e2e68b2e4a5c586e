"""Reconciliation "run now" in the admin: Finance enqueues yesterday's run from the changelist
button, or runs selected periods again (one result line per run); Support cannot."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import time_machine

from invoicing.models import ReconciliationRun
from tests.disputes.factories import staff
from tests.finance.support import celery_inline

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 8, 14, 9, 30, tzinfo=UTC)
CHANGELIST = "/admin/invoicing/reconciliationrun/"


def _words(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_finance_runs_yesterday_now_from_the_changelist(
    client, django_capture_on_commit_callbacks
) -> None:
    client.force_login(staff("finance"))
    with time_machine.travel(NOW, tick=False):
        page = client.get(CHANGELIST).content.decode()
        assert "Run now (yesterday)" in page
        with celery_inline(), django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"{CHANGELIST}run-now/", follow=True)
    assert response.redirect_chain[-1][0] == CHANGELIST
    assert "Reconciliation of Aug 13, 2026 (UTC) queued" in _words(response.content.decode())
    run = ReconciliationRun.objects.get()
    assert (run.trigger, run.period_start, run.period_end) == (
        "admin",
        datetime(2026, 8, 13, tzinfo=UTC),
        datetime(2026, 8, 14, tzinfo=UTC),
    )


def test_run_again_reports_each_selected_run(client, django_capture_on_commit_callbacks) -> None:
    first = ReconciliationRun.objects.create(
        period_start=datetime(2026, 8, 1, tzinfo=UTC), period_end=datetime(2026, 8, 2, tzinfo=UTC)
    )
    second = ReconciliationRun.objects.create(
        period_start=datetime(2026, 8, 5, tzinfo=UTC), period_end=datetime(2026, 8, 7, tzinfo=UTC)
    )
    client.force_login(staff("finance"))
    with celery_inline(), django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            CHANGELIST, {"action": "run_again", "_selected_action": [first.pk, second.pk]}
        )
    words = _words(response.content.decode())
    assert "Queued: Aug 1, 2026 (UTC) is reconciled again" in words
    assert "Queued: Aug 5 – Aug 6, 2026 (UTC) is reconciled again" in words
    again = ReconciliationRun.objects.filter(trigger="admin").order_by("period_start")
    assert [(r.period_start, r.period_end) for r in again] == [
        (first.period_start, first.period_end),
        (second.period_start, second.period_end),
    ]


def test_support_sees_runs_but_cannot_run_them(client) -> None:
    client.force_login(staff("support"))
    page = client.get(CHANGELIST)
    assert page.status_code == 200 and "Run now" not in page.content.decode()
    assert client.post(f"{CHANGELIST}run-now/").status_code == 403
    assert not ReconciliationRun.objects.exists()
