"""Which tasks rely on broker redelivery, and which may outlive the visibility timeout.

Every task is ``acks_late`` with ``reject_on_worker_lost`` (settings), so a task whose worker
dies is handed out again after ``CELERY_VISIBILITY_TIMEOUT_SECONDS``. The same rule hands a
task that is still running after that long to a second worker: a task allowed to run longer
than the timeout must be safe to run twice at once. This test makes that a decision per task:
a new task with a longer time limit fails here until it is listed, with its reason."""

from __future__ import annotations

from django.conf import settings

from billingsite.celery import app

# Task -> why a second copy running at the same time is harmless.
MAY_OUTLIVE_THE_VISIBILITY_TIMEOUT = {
    "billingsite.outbox_dispatch": "claims rows FOR UPDATE SKIP LOCKED under a lease",
    "invoicing.stripe.webhook_sweep": "each event is processed under FOR UPDATE SKIP LOCKED",
    "invoicing.billing.run_contracts": "billing services are safe to run twice or concurrently",
    "invoicing.stripe.invoices_poll": "applies Stripe's state with conditional transitions",
    "invoicing.stripe.reconcile": "read-mostly; a second run records a second report",
    "billingsite.idempotency_keys_prune": "deletes expired rows; a second delete finds none",
    "billingsite.invariants_check": "read-only checks; a second run records a second result",
    "invoicing.collections_advance": "each dunning step is a row unique per (invoice, step)",
    "invoicing.alerts.periods_roll": (
        "queues customers for evaluation; a trigger resolves once under its unique row"
    ),
    "revenue.post_pending": "posts each source once by its unique source key, under a lock",
    "reporting.exports_nightly": (
        "each (dataset, folder, format) cursor is taken FOR UPDATE SKIP LOCKED for the run"
    ),
    "metering.events_partitions_maintain": (
        "creates a month under a lock on the events table, re-checked after taking it;"
        " a second key prune deletes nothing more"
    ),
    "disputes.duplicates_refund": (
        "refund_request locks the payment and refuses more than is left to refund"
    ),
}


def _tasks() -> dict[str, object]:
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def test_tasks_ack_late_and_are_redelivered_when_their_worker_dies():
    assert settings.CELERY_TASK_ACKS_LATE is True
    assert settings.CELERY_TASK_REJECT_ON_WORKER_LOST is True
    for name, task in _tasks().items():
        assert getattr(task, "acks_late", True) is not False, name


def test_every_task_that_may_outlive_the_visibility_timeout_is_safe_to_run_twice():
    timeout = settings.CELERY_VISIBILITY_TIMEOUT_SECONDS
    longer = {
        name
        for name, task in _tasks().items()
        if (getattr(task, "time_limit", None) or settings.CELERY_TASK_TIME_LIMIT) > timeout
    }
    assert longer - set(MAY_OUTLIVE_THE_VISIBILITY_TIMEOUT) == set()
    # And the list holds no stale names.
    assert set(MAY_OUTLIVE_THE_VISIBILITY_TIMEOUT) <= set(_tasks())
