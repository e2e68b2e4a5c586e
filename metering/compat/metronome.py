"""Metronome: ``metronome-sdk`` with ``base_url="http://host/compat/metronome"``.

What the SDK sends (``client.v1.usage.ingest(usage=[...])``): ``POST /v1/ingest`` with a bare
JSON array of ``{transaction_id, customer_id, event_type, timestamp, properties}``
(``Accept: */*``); ``Content-Encoding: gzip`` is accepted. Timestamps are RFC 3339 (one
without offset is taken as UTC).

Mapping: ``transaction_id`` -> id (namespace ``metronome``), ``customer_id`` -> customer
(external id or alias: Metronome's "ingest aliases"), ``event_type`` -> type.

Answers: 200 with an empty body. When any event fails: 400
``{"message": ..., "errors": [{index, transaction_id, reason, message}]}``, which the SDK
raises as ``metronome.BadRequestError`` (``.status_code``, ``.body``); the other events of
the request are stored, and re-sending them is safe (duplicates are ignored, as Metronome does).
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from metering.compat.adapter import (
    CompatIngestView,
    Translated,
    drop_nulls,
    event_list,
    ingest,
    timestamp_from_iso,
)

VENDOR = NAMESPACE = "metronome"


def metronome_event(raw: Any) -> Translated:
    """One Metronome usage event in Tally's wire format; a non-object passes through."""
    if not isinstance(raw, dict):
        return Translated(NAMESPACE, raw)
    timestamp = raw.get("timestamp")
    return Translated(
        NAMESPACE,
        drop_nulls(
            {
                "id": raw.get("transaction_id"),
                "customer": raw.get("customer_id"),
                "type": raw.get("event_type"),
                "timestamp": timestamp_from_iso(timestamp) if timestamp is not None else None,
                "properties": raw.get("properties"),
            }
        ),
    )


class MetronomeIngest(CompatIngestView):
    def error_response(self, status: int, code: str, message: str, details: Any) -> Response:
        return Response({"message": message, "code": code, "details": details}, status=status)

    def post(self, request: Request) -> Response:
        document, imprecise, limits = self.read_document(request)
        raws = event_list(document, limits, shape="a JSON array of usage events")
        outcomes = ingest(
            api_key=request.auth,
            vendor=VENDOR,
            raws=raws,
            translate=metronome_event,
            limits=limits,
            check_imprecise=imprecise,
        )
        if not outcomes.failures:
            return Response(status=200)
        errors = [
            {
                "index": f.index,
                "transaction_id": f.event_id,
                "reason": f.reason,
                "message": f.message,
            }
            for f in outcomes.failures
        ]
        return Response(
            {
                "message": f"{len(errors)} of {len(raws)} usage events were not ingested; "
                "the others were.",
                "errors": errors,
            },
            status=400,
        )
