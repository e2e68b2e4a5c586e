"""The one "a key bound to a customer may not do this" check, for every app's API views.

An API key (``accounts.models.ApiKey``, ``request.auth``) bound to a customer has a
``customer_id``; billingsite does not import accounts, so the check reads the attribute."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from billingsite.errors import AppError

BOUND_KEY_FORBIDDEN = "bound_key_forbidden"


def refuse_bound_key(request: Request, what: str) -> None:
    """The one check for "a key bound to a customer may not do this": 403
    ``bound_key_forbidden`` with ``what`` ("create plans", ...) in the message. Called by every
    view (or branch of one) that a bound key may not use; what a bound key may write is listed
    in docs/finance-api.md ("What a customer-bound key may do")."""
    if getattr(request.auth, "customer_id", None) is not None:
        raise AppError(
            BOUND_KEY_FORBIDDEN,
            f"A customer-bound API key cannot {what}; use a key that is not bound to a customer.",
            status_code=403,
        )


class NotCustomerBound(permissions.BasePermission):
    """For views no bound key may use at all: ``permission_classes = [HasScope,
    NotCustomerBound]``, with ``bound_key_refusal`` naming what is refused. Answers through
    ``refuse_bound_key`` (the same code and shape)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        refuse_bound_key(request, getattr(view, "bound_key_refusal", "use this endpoint"))
        return True
