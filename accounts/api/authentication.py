from __future__ import annotations

import logging
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts import attempts
from accounts.api.throttling import ApiKeyRateThrottle
from accounts.models import ApiKey
from accounts.services import api_key_authenticate

logger = logging.getLogger(__name__)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <key>``. ``request.auth`` is the ApiKey; there is no user.

    Failed authentications are limited per client address (``API_AUTH_FAILURE_LIMIT_PER_IP``):
    past the limit, every bad or malformed key from the address gets 429 ``throttled`` for one
    period. A valid key is always accepted, even from a locked address: one misconfigured
    client behind a shared NAT must not stop the others' usage events (keys are 256-bit, so
    the limit is about load and noise, not about making guessing feasible). Valid keys cost
    no Redis lookup."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        well_formed = scheme.lower() == self.keyword.lower() and bool(token.strip())
        # The cache lookup and the rate count share one Redis round trip (throttling.py).
        key = (
            api_key_authenticate(token.strip(), ApiKeyRateThrottle.fetcher(request))
            if well_formed
            else None
        )
        if key is not None:
            return (None, key)
        failures = _failure_subjects(request)
        verdict = attempts.locked(failures)
        if verdict.refused:
            raise _throttled(request, verdict)
        _count_failure(request, failures)
        if not well_formed:
            raise exceptions.AuthenticationFailed(
                "Use the header `Authorization: Bearer <api key>`."
            )
        raise exceptions.AuthenticationFailed("The API key is not valid or was revoked.")

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Documents the bearer scheme in the OpenAPI schema."""

    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key: `Authorization: Bearer tly_...`",
        }


def _failure_subjects(request: Request) -> list[attempts.Subject]:
    limit = attempts.configured_limit("api-auth:ip", "API_AUTH_FAILURE_LIMIT_PER_IP")
    return attempts.subjects((limit, request.META.get("REMOTE_ADDR")))


def _count_failure(request: Request, failures: list[attempts.Subject]) -> None:
    """Count the failure; the one that reaches the limit is answered 401 like the others, and
    the lockout starts with the next request (logged once, here)."""
    if attempts.fail(failures).refused:
        logger.warning(
            "API key authentication locked for an address: too many failures",
            extra={
                "event": "auth_throttled",
                "action": "api-auth",
                "ip": request.META.get("REMOTE_ADDR"),
                "limit": "api-auth:ip",
            },
        )


def _throttled(request: Request, verdict: attempts.Verdict) -> exceptions.Throttled:
    logger.info(
        "API key authentication refused: address locked out",
        extra={
            "event": "auth_throttled",
            "action": "api-auth",
            "ip": request.META.get("REMOTE_ADDR"),
            "limit": "api-auth:ip",
            "retry_after_seconds": verdict.retry_after,
        },
    )
    # DRF adds "Expected available in N seconds." and the Retry-After header.
    return exceptions.Throttled(
        wait=verdict.retry_after, detail="Too many failed authentications from this address."
    )


def request_key(request: Request) -> ApiKey:
    """The API key that authenticated ``request``. Every view behind the scope permissions has
    one; asking for it elsewhere is answered like a request without a key."""
    key = request.auth
    if not isinstance(key, ApiKey):
        raise exceptions.NotAuthenticated()
    return key
