"""Disputes' panels on the admin home: Support sees open disputes by due date and its refund
requests still waiting; Finance sees refunds awaiting its approval (not its own requests)."""

from __future__ import annotations

from collections.abc import Sequence

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import FINANCE, SUPPORT
from billingsite.dashboard import Row, ago, register_panel
from billingsite.display import money_text as money
from disputes.selectors import disputes_queue, refunds_awaiting_approval

PANEL_ROWS = 8


def open_disputes(request: HttpRequest) -> Sequence[Row]:
    now = timezone.now()
    rows = []
    for d in disputes_queue()[:PANEL_ROWS]:
        hours = (d.due_by - now).total_seconds() / 3600 if d.due_by else None
        rows.append(
            Row(
                label=f"{d.customer or d.stripe_charge_id} · {money(d.amount, d.currency)}",
                url=reverse("admin:disputes_dispute_evidence", args=[d.pk]),
                detail=f"{d.get_status_display()} · {d.reason} · {d.assignee or 'unassigned'}",
                badge=f"due {d.due_by:%b %d}" if d.due_by else "no due date",
                tone="danger" if hours is not None and hours < 72 else "warn",
            )
        )
    return rows


def my_waiting_refunds(request: HttpRequest) -> Sequence[Row]:
    rows = refunds_awaiting_approval().filter(requested_by=request.user)[:PANEL_ROWS]
    return [
        Row(
            label=f"{r.customer} · {money(r.amount, r.currency)}",
            url=reverse("admin:disputes_refund_change", args=[r.pk]),
            detail=f"{r.get_reason_display()} · asked {ago(r.created_at)}",
            badge="awaiting Finance",
            tone="info",
        )
        for r in rows
    ]


def refunds_to_approve(request: HttpRequest) -> Sequence[Row]:
    rows = refunds_awaiting_approval().exclude(requested_by=request.user)[:PANEL_ROWS]
    return [
        Row(
            label=f"{r.customer} · {money(r.amount, r.currency)}",
            url=reverse("admin:disputes_refund_decide", args=[r.pk, "approve"]),
            detail=f"{r.get_reason_display()} · by {r.requested_by or 'automation'} · "
            f"{ago(r.created_at)}",
            badge="approve",
            tone="warn",
        )
        for r in rows
    ]


register_panel(
    SUPPORT,
    "Open disputes (evidence due)",
    open_disputes,
    key="disputes.open_disputes",
    permissions=["disputes.view_dispute"],
    empty="No open dispute.",
    more_url="admin:disputes_dispute_changelist",
    order=10,
)
register_panel(
    SUPPORT,
    "My refund requests awaiting approval",
    my_waiting_refunds,
    key="disputes.my_waiting_refunds",
    permissions=["disputes.view_refund"],
    empty="None of your refund requests is waiting.",
    order=25,
)
register_panel(
    FINANCE,
    "Refunds awaiting approval",
    refunds_to_approve,
    key="disputes.refunds_to_approve",
    permissions=["disputes.approve_refund"],
    empty="No refund waits for approval.",
    order=10,
)
