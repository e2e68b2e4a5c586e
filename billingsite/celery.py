"""The Celery application. The beat schedule lives in settings (CELERY_BEAT_SCHEDULE), in code."""

import os
import time

from celery import Celery
from celery.signals import before_task_publish, setup_logging, task_postrun, task_prerun

from billingsite.broker import harden_redis_restore

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billingsite.settings")
harden_redis_restore()

app = Celery("billingsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _use_django_logging(**_kwargs: object) -> None:
    """Keep Django's JSON logging config in workers instead of Celery's own handlers."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@task_prerun.connect
def _bind_task_id(task_id: str | None = None, task: object = None, **_kwargs: object) -> None:
    from billingsite.observability import task_id_var

    task_id_var.set(task_id)


@task_postrun.connect
def _unbind_task_id(**_kwargs: object) -> None:
    from billingsite.observability import task_id_var

    task_id_var.set(None)


@before_task_publish.connect
def _stamp_published_at(headers: dict[str, object] | None = None, **_kwargs: object) -> None:
    """/metrics reports how long the oldest waiting task has waited (billingsite.queue_metrics);
    Celery's own headers carry no publish time, so every message gets one here."""
    if headers is not None:
        headers.setdefault("published_at", time.time())
