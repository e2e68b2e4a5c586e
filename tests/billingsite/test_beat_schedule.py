"""Every beat entry names a registered task that imports and runs: a task whose body imports a
module that no longer exists would otherwise fail only in production, every time beat fires."""

from __future__ import annotations

import pytest
from django.conf import settings

from billingsite.celery import app

BEAT_ENTRIES = sorted(settings.CELERY_BEAT_SCHEDULE)


@pytest.fixture(scope="module", autouse=True)
def _tasks_registered() -> None:
    app.loader.import_default_modules()


def test_the_schedule_is_not_empty() -> None:
    assert {"metering-rollup", "invoicing-billing-run", "invoicing-stripe-invoices-poll"} <= set(
        BEAT_ENTRIES
    )


@pytest.mark.django_db
@pytest.mark.parametrize("entry", BEAT_ENTRIES)
def test_beat_entry_runs_once_against_the_test_database(entry: str) -> None:
    spec = settings.CELERY_BEAT_SCHEDULE[entry]
    assert spec["task"] in app.tasks, f"beat entry {entry} names an unregistered task"
    task = app.tasks[spec["task"]]
    # Eagerly, in this process, with the schedule's own arguments; throw=True re-raises.
    result = task.apply(args=spec.get("args", ()), kwargs=spec.get("kwargs", {}), throw=True)
    assert result.successful()
