"""Registers disputes' Customer 360 sections (refunds, disputes) and the support search by
Stripe dispute, refund and charge ids (autodiscovered by ``accounts.customer360``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Q
from django.http import HttpRequest

from accounts.customer360.registry import register_section
from accounts.customer360.search import register_customer_search
from accounts.models import Customer
from billingsite.display import money_text as money
from disputes.models import Dispute, Refund
from invoicing.models import Payment, PaymentStatus

ROWS = 20


def refunds(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    rows = Refund.objects.filter(customer=customer).select_related("invoice", "requested_by")[:ROWS]
    payments = (
        Payment.objects.filter(
            customer=customer, status=PaymentStatus.SUCCEEDED, amount_captured__gt=0
        )
        .select_related("invoice")
        .order_by("-created_at")[:ROWS]
    )
    return {
        "refunds": [(r, money(r.amount, r.currency)) for r in rows],
        "payments": [(p, money(p.amount_captured, p.currency)) for p in payments],
        "can_request": request.user.has_perm("disputes.request_refund"),
    }


def disputes(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    rows = Dispute.objects.filter(customer=customer).select_related("invoice", "assignee")
    return {"disputes": [(d, money(d.amount, d.currency)) for d in rows[:ROWS]]}


def by_stripe_ids(term: str) -> Iterable[int]:
    """``dp_``/``du_`` disputes, ``re_`` refunds, and charges that have a dispute."""
    if "_" not in term:
        return []
    ids = set(
        Dispute.objects.filter(Q(stripe_id=term) | Q(stripe_charge_id=term))
        .exclude(customer__isnull=True)
        .values_list("customer_id", flat=True)
    )
    ids |= set(Refund.objects.filter(stripe_refund_id=term).values_list("customer_id", flat=True))
    return ids


register_section(
    "disputes.refunds",
    "Refunds",
    refunds,
    template="disputes/customer_360/refunds.html",
    order=47,
    permissions=["disputes.view_refund"],
)
register_section(
    "disputes.disputes",
    "Disputes",
    disputes,
    template="disputes/customer_360/disputes.html",
    order=48,
    permissions=["disputes.view_dispute"],
)
register_customer_search("disputes.stripe_ids", by_stripe_ids)
