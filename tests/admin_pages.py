"""Every registered admin changelist and one change page of each, as a role sees them.

Shared by the raw-decimal scan (Django test client) and the overflow walk (Playwright), so
both tests cover the same pages: a model added to the admin is walked without editing a list.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import admin
from django.contrib.auth.models import User
from django.test import RequestFactory
from django.urls import NoReverseMatch, reverse

# The demo seed's staff logins (accounts/demo.py): username -> password.
ROLE_USERS = {
    "support": ("demo-support", "demo-support-password"),
    "finance": ("demo-finance", "demo-finance-password"),
    "admin": ("demo-admin", "demo-admin-password"),
}


@dataclass(frozen=True)
class AdminPage:
    label: str  # "invoicing.invoice changelist"
    url: str


def admin_pages_for(user: User) -> list[AdminPage]:
    """The changelists ``user`` may view, plus the change page of each list's first row."""
    request = RequestFactory().get("/admin/")
    request.user = user
    pages: list[AdminPage] = []
    for model, model_admin in sorted(
        admin.site._registry.items(), key=lambda item: item[0]._meta.label_lower
    ):
        opts = model._meta
        if not model_admin.has_view_or_change_permission(request):
            continue
        try:
            changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        except NoReverseMatch:
            continue
        pages.append(AdminPage(f"{opts.label_lower} changelist", changelist))
        first = model_admin.get_queryset(request).order_by("-pk").first()
        if first is not None:
            change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[first.pk])
            pages.append(AdminPage(f"{opts.label_lower} change #{first.pk}", change))
    return pages
