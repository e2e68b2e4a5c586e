"""Admin dashboard banner: webhook endpoints disabled because they kept failing, and enabled
ones in a failure streak (the Admin role; registered from ``billingsite.dashboard``)."""

from __future__ import annotations

from collections.abc import Sequence

from django.http import HttpRequest
from django.urls import reverse

from billingsite import dashboard
from billingsite.dashboard import Row, ago, register_panel
from billingsite.webhooks.selectors import disabled_endpoints, failing_endpoints

PANEL_ROWS = 8


def webhook_endpoints_in_trouble(request: HttpRequest) -> Sequence[Row]:
    rows = [
        Row(
            label=endpoint.url,
            url=reverse("admin:billingsite_webhookendpoint_change", args=[endpoint.pk]),
            detail=f"disabled {ago(endpoint.disabled_at)}: {endpoint.disabled_reason}"
            if endpoint.disabled_at
            else endpoint.disabled_reason,
            badge="disabled",
            tone="danger",
        )
        for endpoint in disabled_endpoints()[:PANEL_ROWS]
    ]
    rows += [
        Row(
            label=endpoint.url,
            url=reverse("admin:billingsite_webhookendpoint_change", args=[endpoint.pk]),
            detail=f"failing since {ago(endpoint.failing_since)}" if endpoint.failing_since else "",
            badge=f"{endpoint.consecutive_failures} failed",
            tone="warn",
        )
        for endpoint in failing_endpoints()[: max(0, PANEL_ROWS - len(rows))]
    ]
    return rows


def register() -> None:
    register_panel(
        dashboard.ADMIN_ROLE,
        "Webhook endpoints failing or disabled",
        webhook_endpoints_in_trouble,
        key="billingsite.webhooks",
        permissions=("billingsite.view_webhookendpoint",),
        empty="Every webhook endpoint is delivering.",
        more_url="admin:billingsite_webhookendpoint_changelist",
        more_label="All endpoints",
        order=55,
    )
