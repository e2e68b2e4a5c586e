"""Django's browser middleware (sessions, CSRF, the session user, messages), skipped for the API.

The API (``/api/v1/``, ``/compat/``) authenticates with bearer keys only: every view under
those paths is a DRF view without session authentication (pinned by
``tests/test_browser_middleware.py``), DRF exempts its views from Django's CSRF check and does
its own only for session authentication, the API never reads or writes a session or a message,
and ``request.user`` is set by DRF from the key (``accounts/api/acting.py`` then names the
key's creator for the audit history). Running these four on an API request only cost time
(issue 15: about 5% of a 100-event ingest request's web CPU) and could have added a
``Vary: Cookie`` or a cookie to an API answer. Every other path (admin, usage pages, the
schema and docs pages, webhooks) runs them exactly as Django's own classes do.

The request id, security headers, clickjacking header, common middleware, history context and
the API error mapping stay in MIDDLEWARE for every request, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import middleware as auth_middleware
from django.contrib.messages import middleware as messages_middleware
from django.contrib.sessions import middleware as session_middleware
from django.http import HttpRequest, HttpResponseForbidden
from django.middleware import csrf

API_PATHS = ("/api/v1/", "/compat/")


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PATHS)


class _BrowserOnly:
    """Mixin for a ``MiddlewareMixin`` class: API requests go straight to the next handler."""

    def __call__(self, request: HttpRequest) -> Any:
        if is_api(request):
            return self.get_response(request)  # type: ignore[attr-defined]
        return super().__call__(request)  # type: ignore[misc]


class SessionMiddleware(_BrowserOnly, session_middleware.SessionMiddleware):
    pass


class CsrfViewMiddleware(_BrowserOnly, csrf.CsrfViewMiddleware):
    def process_view(
        self,
        request: HttpRequest,
        callback: Callable[..., Any],
        callback_args: Any,
        callback_kwargs: Any,
    ) -> HttpResponseForbidden | None:
        if is_api(request):
            return None
        return super().process_view(request, callback, callback_args, callback_kwargs)


class AuthenticationMiddleware(_BrowserOnly, auth_middleware.AuthenticationMiddleware):
    pass


class MessageMiddleware(_BrowserOnly, messages_middleware.MessageMiddleware):
    pass
