"""The page at ``/``: where to go from here (back office, usage pages, API docs, health).

``bin/tally run`` prints this URL, so it must answer for everyone: anonymous visitors get the
links and the sign-in pages, a signed-in person sees who they are and their own entry first.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_safe


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    context = {
        **admin.site.each_context(request),
        "title": "Welcome",
        "signed_in_as": user.get_username() if user.is_authenticated else "",
        "is_staff": bool(user.is_authenticated and user.is_staff),
        "is_customer_user": bool(
            user.is_authenticated and hasattr(user, "customer_user") and not user.is_staff
        ),
    }
    return TemplateResponse(request, "billingsite/home.html", context)
