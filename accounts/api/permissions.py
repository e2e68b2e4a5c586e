from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from accounts.models import ApiKey, ApiKeyScope

# `admin` may do everything; `read` only reads; `ingest` only sends events.
_SATISFIES = {
    ApiKeyScope.ADMIN: {ApiKeyScope.ADMIN, ApiKeyScope.READ, ApiKeyScope.INGEST},
    ApiKeyScope.READ: {ApiKeyScope.READ},
    ApiKeyScope.INGEST: {ApiKeyScope.INGEST},
}


def scope_allows(key_scope: str, required: str) -> bool:
    return required in _SATISFIES.get(ApiKeyScope(key_scope), set())


class HasScope(permissions.BasePermission):
    """Views declare ``read_scope`` (safe methods) and ``write_scope`` (the rest)."""

    message = "This API key's scope does not allow this request."

    def has_permission(self, request: Request, view: Any) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return False
        if request.method in permissions.SAFE_METHODS:
            required = getattr(view, "read_scope", ApiKeyScope.READ)
        else:
            required = getattr(view, "write_scope", ApiKeyScope.ADMIN)
        if not scope_allows(key.scope, required):
            scope = ApiKeyScope(required).value
            self.message = f"This endpoint needs an API key with scope '{scope}'."
            return False
        return True
