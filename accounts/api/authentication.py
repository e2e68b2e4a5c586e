from __future__ import annotations

import logging
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts import attempts
from accounts.services import api_key_authenticate

logger = logging.getLogger(__name__)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <key>``. ``request.auth`` is the ApiKey; there is no user.

    Failed authentications are limited per client address (``API_AUTH_FAILURE_LIMIT_PER_IP``):
    past the limit the address gets 429 ``throttled`` for one period, whatever key it sends,
    so guessing keys gains nothing. A valid key costs one Redis lookup."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        failures = _failure_subjects(request)
        verdict = attempts.locked(failures)
        if verdict.refused:
            raise _throttled(request, verdict)
        scheme, _, token = header.partition(" ")
        if scheme.lower() != self.keyword.lower() or not token.strip():
            _count_failure(request, failures)
            raise exceptions.AuthenticationFailed(
                "Use the header `Authorization: Bearer <api key>`."
            )
        key = api_key_authenticate(token.strip())
        if key is None:
            _count_failure(request, failures)
            raise exceptions.AuthenticationFailed("The API key is not valid or was revoked.")
        return (None, key)

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Documents the bearer scheme in the OpenAPI schema."""

    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer",
                "description": "An API key: `Authorization: Bearer tly_...`"}


def _failure_subjects(request: Request) -> list[attempts.Subject]:
    limit = attempts.configured_limit("api-auth:ip", "API_AUTH_FAILURE_LIMIT_PER_IP")
    return attempts.subjects((limit, request.META.get("REMOTE_ADDR")))


def _count_failure(request: Request, failures: list[attempts.Subject]) -> None:
    """Count the failure; the one that reaches the limit is answered 401 like the others, and
    the lockout starts with the next request (logged once, here)."""
    if attempts.fail(failures).refused:
        logger.warning("API key authentication locked for an address: too many failures",
                       extra={"event": "auth_throttled", "action": "api-auth",
                              "ip": request.META.get("REMOTE_ADDR"), "limit": "api-auth:ip"})


def _throttled(request: Request, verdict: attempts.Verdict) -> exceptions.Throttled:
    logger.info("API key authentication refused: address locked out",
                extra={"event": "auth_throttled", "action": "api-auth",
                       "ip": request.META.get("REMOTE_ADDR"), "limit": "api-auth:ip",
                       "retry_after_seconds": verdict.retry_after})
    # DRF adds "Expected available in N seconds." and the Retry-After header.
    return exceptions.Throttled(
        wait=verdict.retry_after, detail="Too many failed authentications from this address.")
