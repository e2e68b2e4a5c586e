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


# Admin pages beyond the changelists that show amounts: (url name, permission to see it).
REPORT_PAGES = [
    ("admin:disputes_refund_reports", "disputes.view_refund"),
    ("admin:invoicing_dunningstep_ar_aging", "invoicing.view_dunningstep"),
    ("admin:revenue_journalentry_month_close", "revenue.view_journalentry"),
    ("admin:metering_usage_summary", "metering.view_meter"),
]
QUERY = {"admin:metering_usage_summary": "?customer=acme"}


@dataclass(frozen=True)
class AdminPage:
    label: str  # "invoicing.invoice changelist"
    url: str
    may_refuse: bool = False  # a report page whose own rule may turn the role away (403)


def admin_pages_for(user: User) -> list[AdminPage]:
    """The changelists ``user`` may view, the change page of each list's newest row, and
    the report pages (refund reports, AR aging, month close, usage summary) it may open."""
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
    for name, permission in REPORT_PAGES:
        if user.has_perm(permission):
            url = reverse(name) + QUERY.get(name, "")
            pages.append(AdminPage(name.removeprefix("admin:"), url, may_refuse=True))
    return pages
