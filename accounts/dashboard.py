"""Accounts' panels on the admin home (customers and API keys), found by
``billingsite.dashboard.autodiscover()`` like every app's ``dashboard.py``. Every panel is
bounded (a fixed number of rows) so the admin home page stays one cheap query per panel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Count, Max
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiKey, Customer, CustomerStatus
from accounts.roles import ADMIN, FINANCE, SUPPORT
from billingsite.dashboard import LAST_24_HOURS, Row, SearchBox, ago, register_panel

PANEL_ROWS = 8
_CHANGE_KIND = {"+": ("created", "ok"), "~": ("changed", "info"), "-": ("deleted", "danger")}
_STATUS_TONE = {
    CustomerStatus.ACTIVE: "ok",
    CustomerStatus.SUSPENDED: "warn",
    CustomerStatus.ARCHIVED: "",
}


def customers_by_status(request: HttpRequest) -> Sequence[Row]:
    """How many customers are in each status, each linking to the filtered list."""
    changelist = reverse("admin:accounts_customer_changelist")
    counts = dict(Customer.objects.values_list("status").annotate(n=Count("pk")).order_by())
    return [
        Row(
            label=str(status.label),
            url=f"{changelist}?status__exact={status.value}",
            badge=str(counts[status.value]),
            tone=_STATUS_TONE[status],
        )
        for status in CustomerStatus
        if counts.get(status.value)
    ]


def recently_changed_customers(request: HttpRequest) -> Sequence[Row]:
    """Each customer's latest audit entry (created, changed, deleted), newest first."""
    history = Customer.history  # type: ignore[attr-defined]
    latest_ids = list(
        history.values("id")
        .annotate(latest=Max("history_id"))
        .order_by("-latest")
        .values_list("latest", flat=True)[:PANEL_ROWS]
    )
    entries = (
        history.filter(history_id__in=latest_ids)
        .select_related("history_user")
        .order_by("-history_id")
    )
    return [_change_row(entry) for entry in entries]


def _change_row(entry: Any) -> Row:
    kind, tone = _CHANGE_KIND.get(entry.history_type, ("changed", "info"))
    who = entry.history_user.get_username() if entry.history_user else "the system"
    url = (
        ""
        if entry.history_type == "-"
        else reverse("admin:accounts_customer_change", args=[entry.id])
    )
    return Row(
        label=f"{entry.name} ({entry.external_id})",
        url=url,
        detail=f"{ago(entry.history_date)} by {who}",
        badge=kind,
        tone=tone,
    )


def api_keys_used_recently(request: HttpRequest) -> Sequence[Row]:
    """API keys that authenticated a request in the last 24 hours, most recent first."""
    since = timezone.now() - LAST_24_HOURS
    keys = (
        ApiKey.objects.select_related("customer")
        .filter(last_used_at__gte=since)
        .order_by("-last_used_at")[:PANEL_ROWS]
    )
    return [
        Row(
            label=f"{key.name} ({key.prefix})",
            url=reverse("admin:accounts_apikey_change", args=[key.pk]),
            detail=" · ".join(
                (
                    f"{key.scope} scope",
                    key.customer.external_id if key.customer else "all customers",
                    f"used {ago(key.last_used_at)}",
                )
            ),
            badge="revoked" if key.revoked_at else "",
            tone="danger" if key.revoked_at else "",
        )
        for key in keys
    ]


register_panel(
    (SUPPORT, FINANCE, ADMIN),
    "Find a customer",
    customers_by_status,
    key="accounts.customer_search",
    permissions=("accounts.view_customer",),
    # Support searches to open a customer: one match opens its 360 page, several list
    # the matches (each linking to its 360 page), as the 360 search does.
    search=SearchBox(
        url="customer-search",
        placeholder="Name, external id, alias, email or invoice number",
        label="Search customers",
        hidden=(("go", "1"),),
    ),
    empty="No customers yet.",
    more_url="admin:accounts_customer_changelist",
    more_label="All customers",
    order=10,
)
register_panel(
    (SUPPORT, FINANCE, ADMIN),
    "Recently changed customers",
    recently_changed_customers,
    key="accounts.recent_customer_changes",
    permissions=("accounts.view_customer",),
    empty="No customer has been created or changed yet.",
    order=20,
)
register_panel(
    ADMIN,
    "API keys used in the last 24 hours",
    api_keys_used_recently,
    key="accounts.api_keys_recent",
    permissions=("accounts.view_apikey",),
    empty="No API key was used in the last 24 hours.",
    more_url="admin:accounts_apikey_changelist",
    more_label="All API keys",
    order=50,
)
