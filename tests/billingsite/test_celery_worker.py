"""A task runs in a real worker process, through the real Redis broker, against the test DB."""

import os

import pytest

from billingsite.tasks import HEARTBEAT_KEY, heartbeat
from tests.workers import celery_worker


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_heartbeat_task_runs_in_a_separate_worker_process():
    from django.core.cache import cache

    with celery_worker() as worker:
        result = heartbeat.delay().get(timeout=30)
        children = {p.pid for p in __import__("psutil").Process(worker.pid).children()}
    assert result["pid"] != os.getpid()
    assert result["pid"] in children | {worker.pid}
    assert cache.get(HEARTBEAT_KEY)["pid"] == result["pid"]
