"""OpenMeter: ``openmeter`` (or any CloudEvents 1.0 producer, e.g. the ``cloudevents``
package in structured mode) with ``endpoint="http://host/compat/openmeter"``.

What the SDK sends (``client.events.ingest_event`` / ``ingest_events`` /
``ingest_events_json``): ``POST /api/v1/events`` with ``application/cloudevents+json`` (one
event), ``application/cloudevents-batch+json`` (an array, also for one event) or
``application/json`` (either), ``Authorization: Bearer <token>``. A CloudEvent has ``id``,
``source``, ``specversion``, ``type``, ``subject`` (the customer), ``time`` (RFC 3339, may be
absent) and ``data`` (a JSON object). CloudEvents binary mode (``ce-*`` headers) is not
supported.

Mapping: ``id`` -> id in namespace ``openmeter:<source>`` (CloudEvents identity is
``source`` + ``id``: the same id from two sources is two events), ``subject`` -> customer
(external id or alias), ``type`` -> type, ``time`` -> timestamp, ``data`` -> properties.

Answers: 204 with no body. When any event fails: 400 ``application/problem+json`` whose
``extensions.validationErrors`` lists each failed event, which the SDK raises as
``corehttp.exceptions.HttpResponseError`` (``.status_code``; ``.model.detail``); the other
events are stored. 401 raises ``ClientAuthenticationError``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from billingsite.errors import AppError
from metering.compat.adapter import (
    CompatIngestView,
    Refused,
    Translated,
    drop_nulls,
    event_list,
    ingest,
    single_event_refused,
    status_phrase,
    timestamp_from_iso,
)

VENDOR = "openmeter"
NAMESPACE_PREFIX = "openmeter:"
NAMESPACE_MAX = 64  # metering.RejectedEvent/UsageEvent namespace column
SINGLE, BATCH, JSON = (
    "application/cloudevents+json",
    "application/cloudevents-batch+json",
    "application/json",
)


def namespace_for(source: str) -> str:
    """``openmeter:<source>``; a source too long for the column is replaced by its digest, so
    one source always maps to one namespace."""
    namespace = NAMESPACE_PREFIX + source
    if len(namespace) <= NAMESPACE_MAX:
        return namespace
    return f"{NAMESPACE_PREFIX}#{hashlib.blake2b(source.encode(), digest_size=16).hexdigest()}"


def cloudevent(raw: Any) -> Translated | Refused:
    """A CloudEvent in Tally's wire format, in its source's namespace. Without a usable
    ``source`` or ``specversion`` 1.0 it cannot be placed in a namespace and is refused."""
    if not isinstance(raw, dict):
        return Refused("", "invalid_event", "A CloudEvent must be a JSON object.")
    shown_id = raw.get("id") if isinstance(raw.get("id"), str) else ""
    if raw.get("specversion") != "1.0":
        return Refused(shown_id, "invalid_specversion", 'specversion must be "1.0".')
    source = raw.get("source")
    if not isinstance(source, str) or not source:
        return Refused(shown_id, "missing_source", "source is required (a non-empty string).")
    time = raw.get("time")
    return Translated(
        namespace_for(source),
        drop_nulls(
            {
                "id": raw.get("id"),
                "customer": raw.get("subject"),
                "type": raw.get("type"),
                "timestamp": timestamp_from_iso(time) if time is not None else None,
                "properties": raw.get("data"),
            }
        ),
    )


def _events_in(request: Request, document: Any, media_type: str) -> Any:
    if media_type == SINGLE or (media_type == JSON and isinstance(document, dict)):
        if not isinstance(document, dict):
            single_event_refused(api_key=request.auth, vendor=VENDOR, raw=document)
            raise AppError("validation_error", f"{SINGLE} carries one CloudEvent object.")
        return [document]
    return document


class OpenMeterEvents(CompatIngestView):
    def error_response(self, status: int, code: str, message: str, details: Any) -> Response:
        body = {
            "type": "about:blank",
            "title": status_phrase(status) or code,
            "status": status,
            "detail": message,
            "instance": self.request.path if self.request else "",
            "extensions": {"code": code, **(details if isinstance(details, dict) else {})},
        }
        return Response(body, status=status, content_type="application/problem+json")

    def post(self, request: Request) -> Response:
        media_type = (request.content_type or "").split(";")[0].strip().lower()
        if media_type not in (SINGLE, BATCH, JSON):
            raise AppError(
                "unsupported_media_type",
                f"Send {SINGLE}, {BATCH} or {JSON} (CloudEvents structured mode).",
                status_code=415,
            )
        document, imprecise, limits = self.read_document(request)
        raws = event_list(
            _events_in(request, document, media_type),
            limits,
            shape="a CloudEvent or an array of CloudEvents",
        )
        outcomes = ingest(
            api_key=request.auth,
            vendor=VENDOR,
            raws=raws,
            translate=cloudevent,
            limits=limits,
            check_imprecise=imprecise,
        )
        if not outcomes.failures:
            return Response(status=204)
        errors = [
            {
                "index": f.index,
                "id": f.event_id,
                "source": raws[f.index].get("source") if isinstance(raws[f.index], dict) else None,
                "reason": f.reason,
                "message": f.message,
            }
            for f in outcomes.failures
        ]
        return self.error_response(
            400,
            "validation_error",
            f"{len(errors)} of {len(raws)} events were not ingested ("
            + "; ".join(f"{e['index']}: {e['reason']}" for e in errors[:5])
            + "); the others were.",
            {"validationErrors": errors},
        )
