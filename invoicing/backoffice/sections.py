"""Invoicing's sections of the Customer 360 page and its customer-search providers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from accounts.models import Customer
from billingsite.errors import AppError
from invoicing.models import (
    Contract,
    CreditEntry,
    CreditPurchase,
    DunningStep,
    Invoice,
    LineKind,
    Payment,
    StripeInvoice,
)
from invoicing.selectors.computation import CHARGE_KINDS
from invoicing.selectors.credit_purchases import purchase_rows, rule_rows
from invoicing.selectors.credits import grants_with_balance
from invoicing.usage_pages.charts import series_table
from invoicing.usage_pages.presenters import money, number
from invoicing.usage_pages.selectors import usage_overview

ROWS = 12


def contracts(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    rows = (
        Contract.objects.filter(customer=customer)
        .select_related("plan_version__plan")
        .prefetch_related("amendments__created_by", "commits", "discounts", "overrides")
        .order_by("-start_date", "-pk")
    )
    return {"contracts": list(rows)}


def usage(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    try:
        overview = usage_overview(customer, at=timezone.now())
    except AppError as exc:  # a charge the pages cannot rate (a missing meter reads as none)
        return {"error": exc.message}
    if overview is None:
        return {"overview": None}
    cur = overview.currency
    lines = overview.computation.lines
    # Every line of the upcoming invoice is on screen, so the figures add up: charges (the
    # fixed fee too) to "cost so far", then discounts, credits and tax to the invoice total.
    fixed = [
        (ln.description, None, "", money(ln.amount, cur))
        for ln in lines
        if ln.kind in CHARGE_KINDS and ln.kind != LineKind.USAGE
    ]
    usage_rows = [
        (
            c.name,
            c.meter,
            "" if c.meter_missing else number(c.quantity, c.meter.unit if c.meter else ""),
            money(c.cost, cur),
        )
        for c in overview.charges
    ]
    return {
        "overview": overview,
        "missing_meters": overview.missing_meters,
        "cost_so_far": money(overview.cost_so_far, cur),
        "forecast": money(overview.forecast_cost, cur),
        "upcoming_total": money(overview.computation.total, cur),
        "charges": fixed + usage_rows,
        "after_charges": [
            (ln.description, money(ln.amount, cur)) for ln in lines if ln.kind not in CHARGE_KINDS
        ],
        "charts": [
            series_table(s, caption=f"{m.name} per day this period", unit=m.unit)
            for m, s in overview.series
        ],
    }


def invoices(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    rows = Invoice.objects.filter(customer=customer).order_by("-period_start", "-pk")[:ROWS]
    return {
        "invoices": [(inv, money(inv.total, inv.currency)) for inv in rows],
        "total_count": Invoice.objects.filter(customer=customer).count(),
    }


def payments(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    rows = Payment.objects.filter(customer=customer).select_related("invoice")[:ROWS]
    return {"payments": [(p, money(p.amount, p.currency)) for p in rows]}


def credits(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    grants = list(grants_with_balance(customer).order_by("expires_at", "priority", "pk"))
    entries = (
        CreditEntry.objects.filter(grant__customer=customer)
        .select_related("invoice", "grant")
        .order_by("-created_at", "-pk")[:ROWS]
    )
    return {
        "grants": [(g, money(g.amount, g.currency), money(g.balance, g.currency)) for g in grants],
        "entries": [(e, money(e.amount, e.grant.currency)) for e in entries],
    }


def credit_purchases(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    """Top-ups and auto-recharges with the grant each produced, and the recharge rules."""
    return {
        "purchases": purchase_rows(customer, limit=ROWS),
        "total_count": customer.credit_purchases.count(),
        "rules": rule_rows(customer),
    }


def by_invoice_number(term: str) -> Iterable[int]:
    return Invoice.objects.filter(number__iexact=term).values_list("customer_id", flat=True)


def by_stripe_ids(term: str) -> Iterable[int]:
    if "_" not in term:  # Stripe ids look like ch_..., pi_..., in_...
        return []
    ids = set(
        StripeInvoice.objects.filter(stripe_id=term).values_list("invoice__customer_id", flat=True)
    )
    ids |= set(Payment.objects.filter(stripe_charge_id=term).values_list("customer_id", flat=True))
    ids |= set(
        Payment.objects.filter(stripe_payment_intent_id=term).values_list("customer_id", flat=True)
    )
    ids |= set(
        CreditPurchase.objects.filter(stripe_payment_intent_id=term).values_list(
            "customer_id", flat=True
        )
    )
    return ids


def collections(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    """The customer's past-due flag and the latest dunning steps of their invoices."""
    steps = (
        DunningStep.objects.filter(customer=customer)
        .select_related("invoice")
        .order_by("-taken_at", "-pk")[:ROWS]
    )
    return {"past_due_since": customer.past_due_since, "status": customer.status, "steps": steps}
