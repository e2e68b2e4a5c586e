"""Who is looking at the usage pages: exactly one customer, from one of two sources.

- a signed in customer user (``CustomerUser``; session from the customers' sign-in page), or
- a signed link (``/usage/l/<token>/...``): read-only, expiring, revocable, no session needed,
  so it also works inside an iframe of the operator's product (third-party cookies are often
  blocked there). Only these link pages may be framed: they drop ``X-Frame-Options`` and send
  ``Content-Security-Policy: frame-ancestors <USAGE_EMBED_FRAME_ANCESTORS>`` instead; every
  other page keeps ``X-Frame-Options: DENY``.

Every usage page is wrapped by ``usage_page``: the wrapped view receives a ``Viewer`` and must
read data only through ``viewer.customer`` (invariant 8). Staff accounts and users without a
``CustomerUser`` are refused; staff look at a customer's pages through a staff link from the
admin ("Open usage pages as this customer"), which is logged like any other entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from accounts.models import (
    Customer,
    CustomerUser,
    UsageLink,
    UsageLinkPurpose,
    UsageSignInMethod,
)
from accounts.portal.services import TOKEN_SALT, usage_sign_in_record


class LinkRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Viewer:
    """The customer whose pages these are, and how the visitor got in."""

    customer: Customer
    base: str  # URL prefix of this visitor's pages, ending in "/"
    user: User | None = None
    link: UsageLink | None = None

    @property
    def via_link(self) -> bool:
        return self.link is not None

    @property
    def is_staff_view(self) -> bool:
        return self.link is not None and self.link.purpose == UsageLinkPurpose.STAFF


def link_from_token(token: str, *, now: datetime | None = None) -> UsageLink:
    """The live link a token names, or ``LinkRefused`` saying why not (no detail leaks)."""
    try:
        payload = signing.TimestampSigner(salt=TOKEN_SALT).unsign_object(token)
        link_id, customer_id = int(payload["l"]), int(payload["c"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise LinkRefused("This link is not valid. Ask for a new one.") from exc
    link = (
        UsageLink.objects.select_related("customer")
        .filter(pk=link_id, customer_id=customer_id)
        .first()
    )
    if link is None:
        raise LinkRefused("This link is not valid. Ask for a new one.")
    if link.revoked_at is not None:
        raise LinkRefused("This link was revoked. Ask for a new one.")
    if (now or timezone.now()) >= link.expires_at:
        raise LinkRefused("This link has expired. Ask for a new one.")
    return link


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _refused(request: HttpRequest, message: str, status: int = 403) -> HttpResponse:
    return render(request, "usage/refused.html", {"message": message}, status=status)


def _link_viewer(request: HttpRequest, token: str) -> Viewer:
    link = link_from_token(token)
    staff = link.purpose == UsageLinkPurpose.STAFF
    usage_sign_in_record(
        customer=link.customer,
        link=link,
        ip=client_ip(request),
        method=UsageSignInMethod.STAFF if staff else UsageSignInMethod.LINK,
        user=link.created_by if staff else None,
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )
    return Viewer(link.customer, reverse("usage:overview", kwargs={"token": token}), link=link)


def _session_viewer(request: HttpRequest) -> Viewer | None:
    user = request.user
    if not isinstance(user, User):
        return None
    membership = (
        CustomerUser.objects.select_related("customer")
        .filter(user_id=user.pk, user__is_active=True)
        .first()
    )
    if membership is None:
        return None
    return Viewer(membership.customer, reverse("usage:overview"), user=user)


def _framable(response: HttpResponse) -> HttpResponse:
    response.xframe_options_exempt = True  # type: ignore[attr-defined]
    ancestors = getattr(settings, "USAGE_EMBED_FRAME_ANCESTORS", "'self'")
    response["Content-Security-Policy"] = f"frame-ancestors {ancestors}"
    response["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    return response


ViewFunc = Callable[..., HttpResponse]


def usage_page(view: ViewFunc) -> ViewFunc:
    """Resolve the ``Viewer`` (or refuse), render in the customer's time zone, mark the
    response private; link pages become framable (see module docstring)."""

    @wraps(view)
    def wrapper(
        request: HttpRequest, *args: Any, token: str | None = None, **kwargs: Any
    ) -> HttpResponse:
        if token is not None:
            try:
                viewer = _link_viewer(request, token)
            except LinkRefused as exc:
                return _framable(_refused(request, exc.reason))
        elif not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("usage_auth:login"))
        else:
            found = _session_viewer(request)
            if found is None:
                return _refused(
                    request,
                    "This sign-in is for customers' users. Staff open a "
                    "customer's usage pages from the customer in the back office.",
                )
            viewer = found
        with timezone.override(ZoneInfo(viewer.customer.timezone)):
            response = view(request, viewer, *args, **kwargs)
        response["Cache-Control"] = "private, no-store"
        return _framable(response) if viewer.via_link else response

    return wrapper
