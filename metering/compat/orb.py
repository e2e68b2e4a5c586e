"""Orb: ``orb-billing`` with ``base_url="http://host/compat/orb/v1"`` (Orb's own default is
``https://api.withorb.com/v1``; ``http://host/compat/orb`` works too).

What the SDK sends (``client.events.ingest(events=[...])``): ``POST /ingest`` (under the base
URL) with ``{"events": [{event_name, idempotency_key, timestamp, external_customer_id or
customer_id, properties}]}``, an ``Idempotency-Key`` header on every POST (one per call, kept
across the SDK's retries) and optional ``?backfill_id=``/``?debug=true``. Timestamps are
ISO 8601; one without offset is UTC (the SDK writes naive datetimes that way).

Mapping: ``idempotency_key`` -> id (namespace ``orb``), ``external_customer_id`` or else
``customer_id`` -> customer (external id or alias), ``event_name`` -> type.
Per-event dedup makes the request header redundant, so it is accepted and not stored;
``backfill_id`` is accepted and ignored (Tally takes late events within its age limit).

Answers: 200 ``{"validation_failed": [], "debug": null}`` (with ``?debug=true``:
``{"duplicate": [...], "ingested": [...]}``). When any event fails: 400 with Orb's
request-validation problem type plus ``validation_failed: [{idempotency_key,
validation_errors}]``, which the SDK raises as ``orb.RequestValidationError`` (a
``BadRequestError``); the other events of the request are stored, as with Orb.
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from metering.compat.adapter import (
    CompatIngestView,
    Outcomes,
    Translated,
    drop_nulls,
    event_list,
    ingest,
    timestamp_from_iso,
)
from metering.eventlog.publish import QUEUED
from metering.ingest.service import ACCEPTED, DUPLICATE, UNATTRIBUTED

VENDOR = NAMESPACE = "orb"
_DOCS = "https://docs.withorb.com/reference/error-responses#"
# HTTP status -> Orb problem type (the SDK picks its exception class from ``type``)
_TYPES = {
    400: "400-request-validation-errors",
    401: "401-authentication-error",
    404: "404-url-not-found",
    409: "409-resource-conflict",
    413: "413-request-too-large",
    429: "429-too-many-requests",
    500: "500-internal-server-error",
}


def orb_event(raw: Any) -> Translated:
    """One Orb event in Tally's wire format; a non-object passes through to be rejected."""
    if not isinstance(raw, dict):
        return Translated(NAMESPACE, raw)
    timestamp = raw.get("timestamp")
    return Translated(
        NAMESPACE,
        drop_nulls(
            {
                "id": raw.get("idempotency_key"),
                "customer": raw.get("external_customer_id") or raw.get("customer_id"),
                "type": raw.get("event_name"),
                "timestamp": timestamp_from_iso(timestamp) if timestamp is not None else None,
                "properties": raw.get("properties"),
            }
        ),
    )


def _debug(request: Request, outcomes: Outcomes) -> dict[str, list[str]] | None:
    if request.query_params.get("debug", "").lower() not in ("true", "1"):
        return None
    return {
        "duplicate": outcomes.ids_with(DUPLICATE),
        # queued: durably in the event log (TALLY_EVENT_LOG); a sink applies it once
        "ingested": outcomes.ids_with(ACCEPTED, UNATTRIBUTED, QUEUED),
    }


class OrbIngest(CompatIngestView):
    def error_response(self, status: int, code: str, message: str, details: Any) -> Response:
        kind = _TYPES.get(status)
        body: dict[str, Any] = {
            "type": _DOCS + kind if kind else "about:blank",
            "status": status,
            "title": code.replace("_", " ").capitalize(),
            "detail": message,
        }
        if status == 400:
            body["validation_errors"] = [message]
        if details:
            body["details"] = details
        return Response(body, status=status)

    def post(self, request: Request) -> Response:
        document, imprecise, limits = self.read_document(request)
        events = document.get("events") if isinstance(document, dict) else None
        raws = event_list(events, limits, shape='{"events": [...]}')
        outcomes = ingest(
            api_key=request.auth,
            vendor=VENDOR,
            raws=raws,
            translate=orb_event,
            limits=limits,
            check_imprecise=imprecise,
        )
        debug = _debug(request, outcomes)
        if not outcomes.failures:
            return Response({"validation_failed": [], "debug": debug})
        failed = [
            {"idempotency_key": f.event_id, "validation_errors": [f"{f.reason}: {f.message}"]}
            for f in outcomes.failures
        ]
        error = self.error_response(
            400,
            "request_validation_error",
            f"{len(failed)} of {len(raws)} events failed validation; the others were ingested.",
            {},
        )
        error.data["validation_errors"] = [
            f"event {f.index} ({f.event_id or 'no idempotency_key'}): {f.reason}: {f.message}"
            for f in outcomes.failures
        ]
        error.data.update({"validation_failed": failed, "debug": debug})
        return error
