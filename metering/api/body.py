"""Read an ingest request body under the ingest limit (not DATA_UPLOAD_MAX_MEMORY_SIZE)."""

from __future__ import annotations

from django.http import HttpRequest

from billingsite.errors import AppError
from metering.ingest.limits import IngestLimits


def _too_large(limits: IngestLimits) -> AppError:
    return AppError(
        "payload_too_large",
        f"The request body is larger than {limits.max_body_bytes} bytes; "
        "send fewer events per request or gzip the body.",
        details={"max_request_bytes": limits.max_body_bytes},
        status_code=413,
    )


def read_body(request: HttpRequest, limits: IngestLimits) -> bytes:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError as exc:
        raise AppError("bad_request", "Content-Length is not a number.") from exc
    if declared > limits.max_body_bytes:
        raise _too_large(limits)
    body = request.read(limits.max_body_bytes + 1)
    if len(body) > limits.max_body_bytes:
        raise _too_large(limits)
    return body
