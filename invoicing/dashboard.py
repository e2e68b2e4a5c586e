"""Invoicing's panels on the admin home (``billingsite.dashboard``): Finance sees contracts
renewing soon and revenue issued this month; Support sees failed payments."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.db.models import Sum
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import FINANCE, SUPPORT
from billingsite.dashboard import Row, ago, register_panel
from billingsite.display import money_text as money
from invoicing.models import Contract, Invoice, Payment, PaymentStatus
from invoicing.selectors.invoices import ISSUED

PANEL_ROWS = 8
RENEWAL_WINDOW = timedelta(days=45)
FAILED_PAYMENTS_WINDOW = timedelta(days=30)


def contracts_renewing(request: HttpRequest) -> Sequence[Row]:
    """Contracts whose end date falls in the next 45 days, soonest first."""
    today = timezone.now().date()
    rows = (
        Contract.objects.filter(end_date__gte=today, end_date__lte=today + RENEWAL_WINDOW)
        .select_related("customer", "plan_version__plan")
        .order_by("end_date")[:PANEL_ROWS]
    )
    return [
        Row(
            label=str(c.customer),
            url=reverse("customer-360", args=[c.customer_id]),
            detail=f"{c.plan_version} ends {c.end_date}",
            badge=f"{(c.end_date - today).days} d",
            tone="warn" if (c.end_date - today).days <= 14 else "info",
        )
        for c in rows
    ]


def revenue_this_month(request: HttpRequest) -> Sequence[Row]:
    """Totals of invoices issued since the first of this month (UTC), per currency."""
    now = timezone.now()
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    sums = (
        Invoice.objects.filter(status__in=ISSUED, issued_at__gte=start)
        .values("currency")
        .annotate(total=Sum("total"))
        .order_by("currency")
    )
    url = reverse("admin:invoicing_invoice_changelist")
    return [
        Row(
            label=money(row["total"], row["currency"]),
            url=f"{url}?currency__exact={row['currency']}",
            detail=f"issued since {start:%Y-%m-%d}",
        )
        for row in sums
    ]


def failed_payments(request: HttpRequest) -> Sequence[Row]:
    since = timezone.now() - FAILED_PAYMENTS_WINDOW
    rows = (
        Payment.objects.filter(status=PaymentStatus.FAILED, created_at__gte=since)
        .select_related("customer", "invoice")
        .order_by("-created_at")[:PANEL_ROWS]
    )
    return [
        Row(
            label=f"{p.customer} · {money(p.amount, p.currency)}",
            url=reverse("customer-360", args=[p.customer_id]),
            detail=f"{p.failure_message or p.failure_code or 'failed'} · {ago(p.created_at)}",
            badge=str(p.invoice or ""),
            tone="danger",
        )
        for p in rows
    ]


register_panel(
    FINANCE,
    "Contracts renewing (45 days)",
    contracts_renewing,
    key="invoicing.contracts_renewing",
    permissions=["invoicing.view_contract"],
    empty="No contract ends in the next 45 days.",
    order=30,
)
register_panel(
    FINANCE,
    "Revenue this month",
    revenue_this_month,
    key="invoicing.revenue_this_month",
    permissions=["invoicing.view_invoice"],
    empty="No invoice issued this month yet.",
    order=40,
)
register_panel(
    SUPPORT,
    "Failed payments (30 days)",
    failed_payments,
    key="invoicing.failed_payments",
    permissions=["invoicing.view_payment"],
    empty="No failed payment in the last 30 days.",
    order=20,
)
