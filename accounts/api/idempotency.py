"""``Idempotency-Key`` on API POSTs that change money: a retry gets the first answer again.

A client that is not sure its request arrived (a timeout, a dropped connection) sends it again
with the same key and gets the stored answer instead of a second credit note. The key is
optional, scoped to the API key, and bound to the request: the same key with a different
method, path or body is refused (409 ``idempotency_key_reused``). Only successful answers are
stored, in the transaction of the change itself; a request that failed can be retried.

Two concurrent requests with one key: the second INSERT waits on the unique index until the
first commits, then replays its answer (or runs, if the first rolled back).

Stored answers are kept ``API_IDEMPOTENCY_KEY_HOURS`` (default 24, as Stripe does) and then
deleted by the hourly ``billingsite.idempotency_keys_prune`` task (``accounts/api/tasks.py``);
a key sent again after that runs as a new request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from django.conf import settings
from django.db import IntegrityError, transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.idempotency_models import IdempotencyKey
from billingsite.errors import AppError, Conflict

if TYPE_CHECKING:
    from accounts.models import ApiKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
REPLAYED_HEADER = "Idempotent-Replayed"

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Optional, up to 255 printable characters. A retry with the same key and the "
    "same request returns the first answer (header Idempotent-Replayed: true) "
    "instead of doing it twice; the same key with another request is a 409.",
)


def _fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    text = f"{request.method} {request.path}\n{body}"
    return hashlib.sha256(text.encode()).hexdigest()


def _key_of(request: Request) -> str | None:
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise AppError(
            "invalid_idempotency_key",
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable characters.",
            details={HEADER: "invalid"},
        )
    return key


def _api_key(request: Request) -> ApiKey:
    # ApiKeyAuthentication sets request.auth to the key (DRF types it as a token).
    return cast("ApiKey", request.auth)


def idempotent(request: Request, work: Callable[[], Response]) -> Response:
    """Run ``work`` once per (API key, Idempotency-Key); replay its answer afterwards."""
    key = _key_of(request)
    if key is None:
        return work()
    fingerprint = _fingerprint(request)
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    api_key=_api_key(request), key=key, fingerprint=fingerprint
                )
        except IntegrityError:
            return _replay(request, key, fingerprint)
        response = work()
        record.status_code = response.status_code
        record.body = json.loads(JSONRenderer().render(response.data))
        record.save(update_fields=["status_code", "body"])
    response[REPLAYED_HEADER] = "false"
    return response


def _replay(request: Request, key: str, fingerprint: str) -> Response:
    record = IdempotencyKey.objects.get(api_key=_api_key(request), key=key)
    if record.fingerprint != fingerprint or record.status_code is None:
        raise Conflict(
            "idempotency_key_reused",
            f"This {HEADER} was already used for a different request.",
            details={HEADER: key},
        )
    return Response(record.body, status=record.status_code, headers={REPLAYED_HEADER: "true"})


def idempotency_keys_prune(*, now: datetime, batch: int = 5000) -> int:
    """Delete stored answers older than ``API_IDEMPOTENCY_KEY_HOURS``, ``batch`` rows per
    statement so a large backlog never holds long locks; returns how many were deleted."""
    cutoff = now - timedelta(hours=int(getattr(settings, "API_IDEMPOTENCY_KEY_HOURS", 24)))
    deleted = 0
    while True:
        ids = list(
            IdempotencyKey.objects.filter(created_at__lt=cutoff)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return deleted
        deleted += IdempotencyKey.objects.filter(pk__in=ids).delete()[0]
