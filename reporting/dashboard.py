"""Reporting's panel on the admin home (``billingsite.dashboard``): for Finance, the way to the
finance dashboard and how the nightly exports went."""

from __future__ import annotations

from collections.abc import Sequence

from django.http import HttpRequest
from django.urls import reverse

from accounts.roles import FINANCE
from billingsite.dashboard import Row, ago, register_panel
from reporting.models import ExportCursor

PANEL_ROWS = 8


def finance_and_exports(request: HttpRequest) -> Sequence[Row]:
    rows = [
        Row(
            label="Finance dashboard",
            url=reverse("finance-dashboard"),
            detail="MRR/ARR, usage revenue, NRR, top customers, AR aging, deferred revenue",
        )
    ]
    for cursor in ExportCursor.objects.order_by("-last_run_at")[:PANEL_ROWS]:
        rows.append(
            Row(
                label=f"Export {cursor.dataset} ({cursor.format})",
                detail=f"{cursor.last_rows} rows {ago(cursor.last_run_at)}",
                badge=str(cursor.total_rows),
            )
        )
    return rows


register_panel(
    FINANCE,
    "Finance and exports",
    finance_and_exports,
    key="reporting.finance",
    permissions=("reporting.view_finance_dashboard",),
    order=45,
)
