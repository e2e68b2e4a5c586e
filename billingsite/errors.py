"""One application error type, mapped once to HTTP responses and admin messages.

Every API failure, from a validation error to an unknown route, answers
``{"error": {"code": str, "message": str, "details": object}}``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger(__name__)

API_PREFIXES = ("/api/", "/compat/", "/webhooks/")
# How long a client should wait before retrying while the database does not answer.
DATABASE_RETRY_AFTER_SECONDS = 5


class AppError(Exception):
    """A failure the caller can act on: a stable ``code``, a readable ``message``, ``details``."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(
        self,
        code: str,
        message: str,
        *,
        details: Any = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details if details is not None else {}
        if status_code is not None:
            self.status_code = status_code


class NotFound(AppError):
    status_code = status.HTTP_404_NOT_FOUND

    def __init__(self, message: str = "Not found.", *, details: Any = None) -> None:
        super().__init__("not_found", message, details=details)


class Conflict(AppError):
    status_code = status.HTTP_409_CONFLICT


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(status_code: int, code: str, message: str, details: Any = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status_code)


_DRF_MESSAGES = {
    "parse_error": "The request body is not valid JSON.",
    "method_not_allowed": "This method is not allowed on this endpoint.",
    "unsupported_media_type": "Send JSON with Content-Type: application/json.",
}


def database_unavailable(exc: BaseException | None) -> bool:
    """PostgreSQL cannot be reached or dropped the connection (Django's wrappers, or psycopg's
    own errors raised outside them): the caller should retry, it is not a bug to report."""
    import psycopg

    return isinstance(
        exc, (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)
    )


def _unavailable(request: HttpRequest | None, exc: BaseException) -> tuple[int, dict[str, Any]]:
    logger.warning(
        "database unavailable on %s %s: answered 503",
        getattr(request, "method", "?"),
        getattr(request, "path", "?"),
        exc_info=exc,
        extra={"event": "database_unavailable"},
    )
    body = error_body(
        "service_unavailable",
        "The service is temporarily unavailable; retry later.",
        {"retry_after_seconds": DATABASE_RETRY_AFTER_SECONDS},
    )
    return 503, body


def database_unavailable_response(request: HttpRequest | None, exc: BaseException) -> JsonResponse:
    status_code, body = _unavailable(request, exc)
    response = JsonResponse(body, status=status_code)
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: translate every failure into the one error shape."""
    from rest_framework.views import exception_handler as drf_exception_handler

    if database_unavailable(exc):
        status_code, body = _unavailable(context.get("request"), exc)
        return Response(
            body, status=status_code, headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}
        )
    if isinstance(exc, AppError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("payload_too_large", "The request body is too large.", _size_details()),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    if isinstance(exc, (Http404, PermissionDenied)):
        response = drf_exception_handler(exc, context)
        exc = exceptions.NotFound() if isinstance(exc, Http404) else exceptions.PermissionDenied()
    else:
        response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return None
    if isinstance(exc, exceptions.ValidationError):
        body = error_body("validation_error", "The request is not valid.", exc.detail)
    else:
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.default_detail)
        message = _DRF_MESSAGES.get(str(code), str(detail))
        details: dict[str, Any] = {}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            details["retry_after_seconds"] = int(exc.wait)
        if code == "parse_error" and detail != exc.default_detail:
            details["reason"] = str(detail)
        body = error_body(str(code), message, details)
    response.data = body
    return response


def _size_details() -> dict[str, int]:
    from django.conf import settings

    return {"max_bytes": settings.DATA_UPLOAD_MAX_MEMORY_SIZE}


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


class ApiExceptionMiddleware:
    """Errors raised outside DRF views on API paths still answer in the one error shape."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not is_api_path(request.path):
            return None
        if isinstance(exc, AppError):
            return error_response(exc.status_code, exc.code, exc.message, exc.details)
        if database_unavailable(exc):
            return database_unavailable_response(request, exc)
        if isinstance(exc, RequestDataTooBig):
            return error_response(
                413, "payload_too_large", "The request body is too large.", _size_details()
            )
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(
            500,
            "internal_error",
            "Something went wrong on our side.",
            {"request_id": getattr(request, "request_id", None)},
        )


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request.path):
        return error_response(404, "not_found", f"No endpoint at {request.path}.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception or Http404())


def handler500(request: HttpRequest) -> HttpResponse:
    # Django calls this while handling the exception, e.g. one raised in a middleware before
    # any view ran (and so outside ApiExceptionMiddleware).
    failure = sys.exc_info()[1]
    if database_unavailable(failure) and is_api_path(request.path):
        return database_unavailable_response(request, failure)  # type: ignore[arg-type]
    if is_api_path(request.path):
        return error_response(
            500,
            "internal_error",
            "Something went wrong on our side.",
            {"request_id": getattr(request, "request_id", None)},
        )
    from django.views.defaults import server_error

    return server_error(request)
