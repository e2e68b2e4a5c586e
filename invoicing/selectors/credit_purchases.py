"""Reads of credit purchases and auto-recharge rules for the Customer 360 page and the usage
pages: each purchase with the customer's credit balance right after it, and each rule with
how many purchases it made this month (the same calendar month, UTC, as its cap counts).

A balance is the sum of ledger entries (invariant 9). "Balance after" a paid purchase is the
customer's live credit in that currency at the moment its grant's first entry was written:
entries written up to then, of grants in effect and not expired then (the same rule as
``customer_credit_balance``), so later draws do not change it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db.models import DecimalField, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from accounts.models import Customer
from invoicing.models import (
    AutoRechargeRule,
    CreditEntry,
    CreditEntryKind,
    CreditPurchase,
    PurchaseStatus,
)

ZERO = Decimal(0)


@dataclass(frozen=True)
class PurchaseRow:
    purchase: CreditPurchase
    balance_after: Decimal | None  # only for a paid purchase (its grant's first entry)


@dataclass(frozen=True)
class RuleRow:
    rule: AutoRechargeRule
    this_month: int
    last_failure: CreditPurchase | None  # the failed purchase that stopped it, if stopped


def _balance_after() -> Subquery:
    """Per purchase row (annotated with its grant's first entry ``entry_pk``/``entry_at``): the
    customer's live credit in the purchase's currency then, as ``customer_credit_balance``."""
    at = OuterRef("entry_at")
    live = (
        CreditEntry.objects.filter(
            grant__customer_id=OuterRef("customer_id"),
            grant__currency=OuterRef("currency"),
            grant__effective_at__lte=at,
            pk__lte=OuterRef("entry_pk"),
        )
        .filter(Q(grant__expires_at__isnull=True) | Q(grant__expires_at__gt=at))
        .order_by()
        .values("grant__customer_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return Subquery(live[:1], output_field=DecimalField(max_digits=24, decimal_places=4))


def purchase_rows(customer: Customer, limit: int = 25) -> list[PurchaseRow]:
    """The customer's latest purchases, newest first, with the balance after each paid one;
    a fixed number of queries however many purchases are shown."""
    first_entry = CreditEntry.objects.filter(
        grant_id=OuterRef("grant_id"), kind=CreditEntryKind.GRANT
    ).order_by("pk")
    purchases = (
        CreditPurchase.objects.filter(customer=customer)
        .select_related("grant", "rule")
        .annotate(
            entry_pk=Subquery(first_entry.values("pk")[:1]),
            entry_at=Subquery(first_entry.values("created_at")[:1]),
        )
        .annotate(balance_after=_balance_after())
        .order_by("-created_at", "-pk")[:limit]
    )
    return [
        PurchaseRow(
            p,
            p.balance_after  # type: ignore[attr-defined]
            if p.status == PurchaseStatus.SUCCEEDED
            else None,
        )
        for p in purchases
    ]


def _month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def rule_rows(customer: Customer, *, now: datetime | None = None) -> list[RuleRow]:
    """The customer's auto-recharge rules (one per currency) with this month's purchases."""
    start = _month_start((now or timezone.now()).astimezone(UTC))
    rows = []
    for rule in AutoRechargeRule.objects.filter(customer=customer).order_by("currency"):
        failure = None
        if not rule.enabled and rule.stopped_at is not None:
            failure = rule.purchases.filter(status=PurchaseStatus.FAILED).order_by("-pk").first()
        count = rule.purchases.filter(created_at__gte=start).count()
        rows.append(RuleRow(rule, count, failure))
    return rows
