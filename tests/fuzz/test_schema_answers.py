"""The schema declares the error answers, and the API gives the ones schemathesis found wrong."""

from __future__ import annotations

from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = [pytest.mark.django_db, pytest.mark.fuzz]

ERROR_REF = {"$ref": "#/components/schemas/Error"}


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]


def test_every_operation_declares_its_error_answers() -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"]["required"] == ["code", "message", "details"]
    operations = [
        (method, operation)
        for item in schema["paths"].values()
        for method, operation in item.items()
    ]
    assert len(operations) >= 29
    for method, operation in operations:
        responses = operation["responses"]
        for status in ("400", "401", "403", "404", "429", "503"):
            assert responses[status]["content"]["application/json"]["schema"] == ERROR_REF
        assert "Retry-After" in responses["429"]["headers"]
        assert "Retry-After" in responses["503"]["headers"]
        if method in ("post", "patch"):
            assert {"409", "413", "415"} <= set(responses)


def test_ingest_request_states_its_batch_limit(settings: Any) -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    body = schema["components"]["schemas"]["IngestRequestRequest"]["properties"]["events"]
    assert body["minItems"] == 1
    assert body["maxItems"] == settings.METERING_MAX_EVENTS_PER_REQUEST


def test_options_is_405_not_500(admin_api: Any) -> None:
    # DRF's OPTIONS metadata crashed on views without a serializer_class
    _error(admin_api.options("/api/v1/plans"), 405, "method_not_allowed")


@pytest.mark.parametrize("limit", ["null", "0", "-3", "ten"])
def test_bad_page_size_is_400(admin_api: Any, limit: str) -> None:
    error = _error(admin_api.get("/api/v1/customers", {"limit": limit}), 400, "validation_error")
    assert "limit" in error["details"]


def test_forged_cursor_is_400(admin_api: Any) -> None:
    error = _error(
        admin_api.get("/api/v1/meters", {"cursor": "\u00e9t\u00e9!"}), 400, "validation_error"
    )
    assert "cursor" in error["details"]


def test_empty_time_filter_on_events_is_400(read_api: Any) -> None:
    error = _error(read_api.get("/api/v1/events", {"start": ""}), 400, "validation_error")
    assert "start" in error["details"]
