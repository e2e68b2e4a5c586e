"""Lago: ``lago-python-client`` with ``api_url="http://host/compat/lago/"`` (trailing slash:
the SDK joins ``api/v1/`` to it with ``urljoin``).

What the SDK sends (``EventClient.create`` / ``batch_create``):
``POST api/v1/events`` ``{"event": {...}}`` and ``POST api/v1/events/batch``
``{"events": [...]}``, JSON, ``Authorization: Bearer <key>``. An event carries
``transaction_id``, ``external_subscription_id`` (older SDKs and raw callers:
``external_customer_id``), ``code``, ``timestamp`` (Unix seconds: int, fractional or a string)
and ``properties``; unset fields arrive as ``null``.

Mapping: ``transaction_id`` -> id (namespace ``lago``), ``external_customer_id`` or else
``external_subscription_id`` -> customer (an external id or alias: add the Lago subscription
id as an alias of its customer), ``code`` -> type, ``timestamp`` -> RFC 3339,
``properties`` -> properties.

Answers: 200 ``{"event": {...}}`` / ``{"events": [...]}``. Failures are Lago's 422
``{"status": 422, "error": "Unprocessable Entity", "code": "validation_errors",
"error_details": {field: [code]}}`` (batch: keyed by the event's index), which the SDK raises
as ``LagoApiError`` with ``status_code`` and ``response``. Unlike Lago, the valid events of a
failed batch are stored; re-sending the whole batch is safe (they are then duplicates).
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from billingsite.errors import AppError
from metering.compat.adapter import (
    CompatIngestView,
    Outcomes,
    Translated,
    drop_nulls,
    event_list,
    format_timestamp,
    ingest,
    single_event_refused,
    status_phrase,
    timestamp_from_unix,
)

VENDOR = NAMESPACE = "lago"

# Tally rejection reason -> (Lago field, Lago error code)
_LAGO_ERRORS = {
    "missing_id": ("transaction_id", "value_is_mandatory"),
    "invalid_id": ("transaction_id", "invalid_value"),
    "conflict": ("transaction_id", "value_already_exist"),
    "missing_customer": ("external_subscription_id", "value_is_mandatory"),
    "invalid_customer": ("external_subscription_id", "invalid_value"),
    "customer_not_allowed": ("external_subscription_id", "customer_not_allowed"),
    "missing_type": ("code", "value_is_mandatory"),
    "invalid_type": ("code", "invalid_value"),
    "invalid_timestamp": ("timestamp", "invalid_format"),
    "timestamp_in_future": ("timestamp", "timestamp_in_future"),
    "timestamp_too_old": ("timestamp", "timestamp_too_old"),
    "invalid_properties": ("properties", "invalid_value"),
    "properties_too_large": ("properties", "properties_too_large"),
    "imprecise_number": ("properties", "imprecise_number"),
    "value_out_of_range": ("properties", "value_out_of_range"),
}


def lago_event(raw: Any) -> Translated:
    """One Lago event in Tally's wire format; a non-object passes through to be rejected."""
    if not isinstance(raw, dict):
        return Translated(NAMESPACE, raw)
    timestamp = raw.get("timestamp")
    return Translated(
        NAMESPACE,
        drop_nulls(
            {
                "id": raw.get("transaction_id"),
                "customer": raw.get("external_customer_id") or raw.get("external_subscription_id"),
                "type": raw.get("code"),
                "timestamp": timestamp_from_unix(timestamp) if timestamp is not None else None,
                "properties": raw.get("properties"),
            }
        ),
    )


def lago_error_code(reason: str) -> tuple[str, str]:
    """(Lago field, Lago error code) for a Tally rejection reason."""
    return _LAGO_ERRORS.get(reason, ("event", reason))


def _details(outcomes: Outcomes) -> dict[str, list[str]] | dict[str, dict[str, list[str]]]:
    per_event: dict[str, dict[str, list[str]]] = {}
    for failure in outcomes.failures:
        lago_field, code = lago_error_code(failure.reason)
        per_event.setdefault(str(failure.index), {}).setdefault(lago_field, []).append(code)
    return per_event


def _validation_failed(details: dict[str, Any]) -> Response:
    return Response(
        {
            "status": 422,
            "error": "Unprocessable Entity",
            "code": "validation_errors",
            "error_details": details,
        },
        status=422,
    )


def _event_body(
    raw: dict[str, Any], translated: dict[str, Any], outcomes: Outcomes
) -> dict[str, Any]:
    received = format_timestamp(outcomes.received_at)
    return {
        "lago_id": None,
        "lago_customer_id": None,
        "lago_subscription_id": None,
        "transaction_id": raw.get("transaction_id"),
        "external_customer_id": raw.get("external_customer_id"),
        "external_subscription_id": raw.get("external_subscription_id"),
        "code": raw.get("code"),
        "timestamp": translated.get("timestamp", received),
        "precise_total_amount_cents": raw.get("precise_total_amount_cents"),
        "properties": raw.get("properties") or {},
        "created_at": received,
    }


class LagoView(CompatIngestView):
    def error_response(self, status: int, code: str, message: str, details: Any) -> Response:
        return Response(
            {
                "status": status,
                "error": status_phrase(status),
                "code": code,
                "message": message,
                "error_details": details,
            },
            status=status,
        )


class LagoEventCreate(LagoView):
    def post(self, request: Request) -> Response:
        document, imprecise, limits = self.read_document(request)
        if not isinstance(document, dict) or not isinstance(document.get("event"), dict):
            if isinstance(document, dict):  # an event that is not an object is kept, too
                single_event_refused(api_key=request.auth, vendor=VENDOR, raw=document.get("event"))
            raise AppError(
                "bad_request",
                "param is missing or the value is empty: event",
                details={"event": ["value_is_mandatory"]},
            )
        raw = document["event"]
        outcomes = ingest(
            api_key=request.auth,
            vendor=VENDOR,
            raws=[raw],
            translate=lago_event,
            limits=limits,
            check_imprecise=imprecise,
        )
        if outcomes.failures:
            return _validation_failed(_details(outcomes)["0"])
        return Response({"event": _event_body(raw, outcomes.translated[0], outcomes)})


class LagoEventBatch(LagoView):
    def post(self, request: Request) -> Response:
        document, imprecise, limits = self.read_document(request)
        events = document.get("events") if isinstance(document, dict) else None
        raws = event_list(events, limits, shape='{"events": [...]}')
        outcomes = ingest(
            api_key=request.auth,
            vendor=VENDOR,
            raws=raws,
            translate=lago_event,
            limits=limits,
            check_imprecise=imprecise,
        )
        if outcomes.failures:
            return _validation_failed(_details(outcomes))
        return Response(
            {
                "events": [
                    _event_body(raw, tally, outcomes)
                    for raw, tally in zip(raws, outcomes.translated, strict=True)
                ]
            }
        )
