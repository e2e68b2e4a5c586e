"""Request and task ids in every log line, Prometheus metrics, health and readiness probes."""

from __future__ import annotations

import contextvars
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector
from pythonjsonlogger.json import JsonFormatter

from billingsite.log_redaction import redact_url_secrets

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
task_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("task_id", default=None)

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

HTTP_REQUESTS = Counter(
    "tally_http_requests_total", "HTTP requests by method and status", ["method", "status"]
)
HTTP_LATENCY = Histogram(
    "tally_http_request_seconds",
    "HTTP request latency",
    ["method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class RedactingJsonFormatter(JsonFormatter):
    """The JSON log formatter, with URL credentials redacted from the whole line (message,
    arguments and extras such as django.request's ``request`` repr)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_url_secrets(super().format(record))


class LogContextFilter(logging.Filter):
    """Adds request_id and task_id (when present) to every record, for the JSON formatter."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = request_id_var.get()
        task_id = task_id_var.get()
        if request_id:
            record.request_id = request_id
        if task_id:
            record.task_id = task_id
        return True


class RequestIdMiddleware:
    """Takes a caller's X-Request-ID (when sane) or makes one; echoes it on the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID_OK.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        HTTP_LATENCY.labels(request.method).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(request.method, str(response.status_code)).inc()
        response["X-Request-ID"] = request_id
        return response


# Collectors that read the database at scrape time register here (rollup lag, outbox backlog…)
_DB_GAUGES: list[Callable[[], Iterable[GaugeMetricFamily]]] = []


def register_db_gauges(func: Callable[[], Iterable[GaugeMetricFamily]]) -> None:
    """Apps register a function yielding gauge families computed from the database."""
    _DB_GAUGES.append(func)


class _DatabaseGauges(Collector):
    def collect(self) -> Iterable[GaugeMetricFamily]:
        for func in _DB_GAUGES:
            try:
                yield from func()
            except Exception:  # a broken gauge must not take /metrics down
                logging.getLogger(__name__).exception("metrics gauge %s failed", func.__name__)


# Pipelines that can stop while every process is up (e.g. a rollup queue that no longer
# moves). /readyz lists their warnings but stays 200: taking web servers out of the load
# balancer would not restart a worker. Alert on the matching metrics (README, Operations).
_STALL_CHECKS: list[Callable[[], str | None]] = []


def register_stall_check(func: Callable[[], str | None]) -> None:
    """Apps register a function returning a warning when their pipeline stopped moving."""
    _STALL_CHECKS.append(func)


def _stall_warnings() -> list[str]:
    warnings = []
    for func in _STALL_CHECKS:
        try:
            warning = func()
        except Exception:  # reported as a database failure by the checks above, if it is one
            logging.getLogger(__name__).exception("stall check %s failed", func.__name__)
            continue
        if warning:
            warnings.append(warning)
    return warnings


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    output = generate_latest(registry)
    db_registry = CollectorRegistry()
    db_registry.register(_DatabaseGauges())
    output += generate_latest(db_registry)
    return HttpResponse(output, content_type=CONTENT_TYPE_LATEST)


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        cache.set("ops:readyz", "1", timeout=10)
        checks["redis"] = "ok" if cache.get("ops:readyz") == "1" else "error: read-back failed"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    from billingsite.tasks import HEARTBEAT_KEY

    beat = None
    try:
        beat = cache.get(HEARTBEAT_KEY)
    except Exception:  # already reported as a redis failure above
        beat = None
    body = {
        "status": "ok" if ready else "unavailable",
        "checks": checks,
        "worker_heartbeat_age_seconds": int(time.time()) - beat["at"] if beat else None,
        "warnings": _stall_warnings() if checks["database"] == "ok" else [],
    }
    return JsonResponse(body, status=200 if ready else 503)
