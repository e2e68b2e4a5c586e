"""The signed-in staff member of an admin request, typed as the ``User`` services record as actor.

Every admin view runs behind the admin site's login, so ``request.user`` is a ``User``; this
says so once, instead of each call site passing ``User | AnonymousUser`` to a service that
records an actor.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest


def staff_user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or not user.is_active:
        raise PermissionDenied("Sign in as a staff member.")
    return user
