"""What every vendor adapter shares: authentication and limits, body decoding, timestamp
normalisation, one call path into ``events_ingest``, and errors rendered in the vendor's shape.

Invariants:
- An adapter only translates. Validation, dedup, attribution and limits are the ingest
  service's, so an event sent through an adapter gets exactly the outcome it would get from
  ``POST /api/v1/events`` (its invalid events land in the same rejected queue, replayable).
- Nothing sent as an event is lost: an event the adapter itself refuses (``Refused``: it
  cannot be translated or placed in a namespace, e.g. a CloudEvent without ``source``, or a
  Lago ``event`` that is not an object) is kept in the same rejected queue, as the vendor sent
  it, with the vendor and the reason (``events_refused_store``); the vendor's answer is the
  same as without storing. Only request-level problems (not JSON, not the vendor's envelope,
  too many events, too large) are answered without storing anything, as on the native API.
  Rejected rows carry ``vendor`` either way.
- An event's id is stored in the namespace its vendor (and, for CloudEvents, its source) maps
  to; the same vendor event always maps to the same namespace, id and content, so a re-send is
  a ``duplicate`` and vendors' retries are safe.
- ``duplicate`` and ``unattributed`` are successes (the vendors answer them as such);
  ``rejected`` and ``conflict`` (same id, other content: not applied) are reported as failures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from http import HTTPStatus
from typing import Any

from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKeyScope
from billingsite.errors import AppError, api_exception_handler
from metering import metrics
from metering.api.body import read_body
from metering.ingest.limits import IngestLimits, ingest_limits
from metering.ingest.service import CONFLICT, REJECTED, events_ingest, events_refused_store
from metering.ingest.translators import Refused, Translated
from metering.ingest.wire import Rejection, decode_body, events_from_document

CONFLICT_MESSAGE = (
    "An event with this id was already stored with different content; "
    "this one was not applied (it is kept for review)."
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PASSED_HEADERS = ("WWW-Authenticate", "Retry-After")


@dataclass(frozen=True)
class Failure:
    index: int
    event_id: str
    reason: str
    message: str


@dataclass
class Outcomes:
    """Per-event outcomes of one adapter request, in input order."""

    events: list[dict[str, Any]]
    translated: list[Any]
    received_at: datetime
    failures: list[Failure] = field(default_factory=list)

    def ids_with(self, *statuses: str) -> list[str]:
        return [o["id"] for o in self.events if o["status"] in statuses]


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, as Tally's wire format writes it."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def timestamp_from_iso(value: Any) -> Any:
    """An ISO 8601 date-time as RFC 3339; one without offset is UTC (Orb's convention).

    Anything that is not a date-time is returned unchanged, so the ingest service rejects it
    with its own ``invalid_timestamp`` reason and keeps it in the rejected queue."""
    if not isinstance(value, str) or len(value) < 19 or value[10] not in "Tt ":
        return value
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return format_timestamp(parsed)


def timestamp_from_unix(value: Any) -> Any:
    """Unix seconds (int, fractional or a numeric string; Lago's convention) as RFC 3339,
    exact to the microsecond (no float arithmetic). Other values: see ``timestamp_from_iso``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        seconds = Decimal(repr(value))
    elif isinstance(value, int):
        seconds = Decimal(value)
    elif isinstance(value, str):
        try:
            seconds = Decimal(value.strip())
        except InvalidOperation:
            return timestamp_from_iso(value)
    else:
        return value
    if not seconds.is_finite():
        return value
    micros = int((seconds * 1_000_000).to_integral_value(ROUND_HALF_EVEN))
    try:
        return format_timestamp(_EPOCH + timedelta(microseconds=micros))
    except OverflowError:
        return value


def status_phrase(status: int) -> str:
    """``Unprocessable Entity`` for 422; empty for a code HTTP does not name."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def drop_nulls(event: dict[str, Any]) -> dict[str, Any]:
    """Vendor SDKs send unset fields as null; Tally treats an absent field as absent."""
    return {k: v for k, v in event.items() if v is not None}


def ingest(
    *,
    api_key: Any,
    vendor: str,
    raws: Sequence[Any],
    translate: Callable[[Any], Translated | Refused],
    limits: IngestLimits,
    check_imprecise: bool,
) -> Outcomes:
    """Translate ``raws`` and store them through ``events_ingest``, one call per namespace
    (namespaces in sorted order, so concurrent requests take locks in the same order); events
    the translation refused go to the rejected queue as sent."""
    received_at = timezone.now()
    translations = [translate(raw) for raw in raws]
    outcomes: list[dict[str, Any]] = [{} for _ in raws]
    groups: dict[str, list[int]] = {}
    refusals: list[Rejection] = []
    for index, item in enumerate(translations):
        if isinstance(item, Refused):
            outcomes[index] = {
                "index": index,
                "id": item.event_id,
                "status": REJECTED,
                "reason": item.reason,
                "message": item.message,
            }
            refusals.append(Rejection(index, item.event_id, item.reason, item.message, raws[index]))
        else:
            groups.setdefault(item.namespace, []).append(index)
    for namespace in sorted(groups):
        indexes = groups[namespace]
        result = events_ingest(
            api_key=api_key,
            events=[translations[i].event for i in indexes],  # type: ignore[union-attr]
            received_at=received_at,
            id_namespace=namespace,
            limits=limits,
            check_imprecise=check_imprecise,
            vendor=vendor,
        )
        for index, outcome in zip(indexes, result.events, strict=True):
            outcomes[index] = {**outcome, "index": index}
    events_refused_store(api_key=api_key, vendor=vendor, refusals=refusals, received_at=received_at)
    translated = [t.event if isinstance(t, Translated) else None for t in translations]
    return Outcomes(outcomes, translated, received_at, _failures(outcomes))


def _failures(outcomes: list[dict[str, Any]]) -> list[Failure]:
    failures = []
    for o in outcomes:
        if o["status"] == REJECTED:
            failures.append(Failure(o["index"], o["id"], o["reason"], o["message"]))
        elif o["status"] == CONFLICT:
            failures.append(Failure(o["index"], o["id"], "conflict", CONFLICT_MESSAGE))
    return failures


def single_event_refused(*, api_key: Any, vendor: str, raw: Any) -> None:
    """Keep a vendor's one event that is not a JSON object (``invalid_event``, as the native
    API says) before the view answers in the vendor's request-error shape; absent is nothing."""
    if raw is None or isinstance(raw, dict):
        return
    events_refused_store(
        api_key=api_key,
        vendor=vendor,
        received_at=timezone.now(),
        refusals=[Rejection(0, "", "invalid_event", "An event must be a JSON object.", raw)],
    )


def event_list(events: Any, limits: IngestLimits, *, shape: str) -> list[Any]:
    """A non-empty list within the per-request event limit (same limit and error as the
    native endpoint); ``shape`` names what the vendor's body should look like."""
    if not isinstance(events, list):
        raise AppError("validation_error", f"The body must be {shape}.")
    return events_from_document({"events": events}, limits)


class CompatIngestView(APIView):
    """Base for vendor ingest endpoints: an ``ingest``-scope key in ``Authorization: Bearer``,
    the native endpoint's throttle, body limits and gzip, and every error rendered by
    ``error_response`` in the vendor's shape (status codes kept)."""

    # plain strings: HasScope puts the repr of the required scope in its message
    read_scope = ApiKeyScope.INGEST.value
    write_scope = ApiKeyScope.INGEST.value
    parser_classes: list[Any] = []  # the body is read under the ingest limits, like the native view
    schema = None  # vendor wire formats are documented by the vendors, not in Tally's schema

    def error_response(self, status: int, code: str, message: str, details: Any) -> Response:
        raise NotImplementedError

    def read_document(self, request: Request) -> tuple[Any, bool, IngestLimits]:
        """(decoded JSON, whether it holds numbers a float cannot keep exactly, limits)."""
        limits = ingest_limits()
        body = read_body(request._request, limits)
        document, imprecise = decode_body(
            body, content_encoding=request.META.get("HTTP_CONTENT_ENCODING", ""), limits=limits
        )
        return document, imprecise, limits

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self._started = time.perf_counter()
        super().initial(request, *args, **kwargs)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        started = getattr(self, "_started", None)
        if started is not None and response.status_code < 300:
            metrics.INGEST_BATCH_SECONDS.observe(time.perf_counter() - started)
        return super().finalize_response(request, response, *args, **kwargs)

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], Response | None]:
        return self._vendor_exception

    def _vendor_exception(self, exc: Exception, context: dict[str, Any]) -> Response | None:
        native = api_exception_handler(exc, context)
        if native is None:
            return None
        error = native.data["error"]
        response = self.error_response(
            native.status_code, error["code"], error["message"], error["details"]
        )
        for header in _PASSED_HEADERS:
            if header in native:
                response[header] = native[header]
        return response
