"""OpenAPI postprocessing: the error answers every operation can give, declared in one place.

Views declare their success answers; the failures come from shared machinery (authentication,
scope permission, throttling, the exception handler, the database being down), so they are
added here for every operation instead of by a decorator on each view. Every one of them has
the one error body ``{"error": {"code", "message", "details"}}`` (``billingsite.errors``).

Compat endpoints (``/compat/...``) answer in their vendor's shape and are not in this schema.
"""

from __future__ import annotations

from typing import Any

ERROR_COMPONENT = "Error"

_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every failure of the API has this shape.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {
                    "type": "string",
                    "description": "Stable, machine-readable: validation_error, not_found, ...",
                },
                "message": {"type": "string", "description": "What to do about it."},
                "details": {
                    "description": "Per-field errors for validation_error; limits and reasons "
                    "otherwise (an object, or a list of messages)."
                },
            },
            "required": ["code", "message", "details"],
        }
    },
    "required": ["error"],
}

_RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "integer", "minimum": 0},
        "description": "Seconds to wait before retrying.",
    }
}

# status -> what it means for any operation (the shared part of each answer's description).
_DESCRIPTIONS = {
    "400": "The request is not valid (code `validation_error`, `parse_error`, `bad_request`, "
    "...): `details` names the fields and the rule each one broke.",
    "401": "No API key, or not a valid one (`not_authenticated`, `authentication_failed`).",
    "403": "The API key's scope does not allow this request (`permission_denied`), or the key "
    "is bound to a customer and this is the operator's (`bound_key_forbidden`).",
    "404": "No such object (in the path, a filter or the body), or not one this API key may "
    "see (`not_found`).",
    "409": "The request conflicts with the current state, or an Idempotency-Key was reused "
    "with another request (`idempotency_key_reused`).",
    "413": "The request body is larger than allowed (`payload_too_large`; `details` states "
    "the limit).",
    "415": "The body is not JSON (`unsupported_media_type`); send "
    "`Content-Type: application/json`.",
    "429": "Too many requests for this API key, or too many failed authentications from this "
    "address (`throttled`; `details.retry_after_seconds`).",
    "503": "A dependency (the database) is down for a moment (`service_unavailable`); retry "
    "after `Retry-After` seconds.",
}

_WRITE_METHODS = {"post", "put", "patch", "delete"}


def _statuses_for(method: str, operation: dict[str, Any]) -> list[str]:
    # 404 everywhere: a path object, a customer filter or an object named in the body may not
    # exist (or not be visible to this key).
    statuses = ["400", "404"]
    if operation.get("security") != [{}]:
        statuses += ["401", "403", "429"]
    if method in _WRITE_METHODS:
        statuses.append("409")
    if "requestBody" in operation or method in ("post", "put", "patch"):
        # a write without a declared body still reads one if sent (too large, not JSON)
        statuses += ["413", "415"]
    statuses.append("503")
    return statuses


def _error_answer(status: str) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": _DESCRIPTIONS[status],
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}
        },
    }
    if status in ("429", "503"):
        answer["headers"] = dict(_RETRY_AFTER)
    return answer


def add_error_responses(result: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOK: declare the shared error answers per operation."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = _ERROR_SCHEMA
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status in _statuses_for(method, operation):
                responses.setdefault(status, _error_answer(status))
    return result
