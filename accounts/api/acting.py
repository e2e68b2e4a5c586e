"""Who a write through the API is made by: the staff user who created the API key.

API keys act for their creator, so the API obeys the same permissions as the admin and the
audit trail (django-simple-history rows, ``created_by``/``actor`` columns) names that person.
simple_history's middleware reads ``request.user`` from the Django request; an API request has
no session user, so ``api_actor`` puts the key's creator there for the rest of the request.

A key without a creator (made by ``manage.py create_api_key``, or
by automation) acts as the system: allowed where the existing API allowed it, recorded with
no person, and refused where a named person is required (approving a refund: four eyes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.request import Request

from accounts.api.authentication import request_key
from billingsite.api.permissions import refuse_bound_key
from billingsite.errors import AppError

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def api_actor(request: Request) -> User | None:
    """The key's creator (None for a system key); history written from now on names them."""
    key = request_key(request)
    actor = key.created_by
    if actor is not None:
        if not actor.is_active:
            raise AppError(
                "permission_denied",
                "The staff user who created this API key is deactivated.",
                status_code=403,
            )
        django_request: Any = request._request
        django_request.user = actor
    return actor


def api_actor_with(request: Request, *permissions: str) -> User | None:
    """``api_actor``, refused (403) unless the creator holds every one of ``permissions``, as
    the admin would refuse them. A customer-bound key never changes billing terms."""
    refuse_bound_key(request, "change billing terms")
    actor = api_actor(request)
    if actor is not None and not actor.has_perms(permissions):
        raise AppError(
            "permission_denied",
            "The staff user who created this API key may not do this "
            f"(needs {', '.join(permissions)}).",
            status_code=403,
        )
    return actor


def api_person(request: Request, *permissions: str) -> User:
    """``api_actor_with`` for steps a named person must take (four eyes)."""
    actor = api_actor_with(request, *permissions)
    if actor is None:
        raise AppError(
            "person_required",
            "This step needs a person: use an API key created by a staff user.",
            status_code=403,
        )
    return actor
