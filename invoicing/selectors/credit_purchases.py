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

from django.db.models import Q, Sum
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


def balance_at(customer_id: int, currency: str, moment: datetime, upto_entry: int) -> Decimal:
    """Live credit at ``moment``, counting ledger entries up to ``upto_entry`` (inclusive)."""
    live = Q(
        grant__customer_id=customer_id,
        grant__currency=currency,
        grant__effective_at__lte=moment,
        pk__lte=upto_entry,
    ) & (Q(grant__expires_at__isnull=True) | Q(grant__expires_at__gt=moment))
    total = CreditEntry.objects.filter(live).aggregate(s=Sum("amount"))["s"]
    return total if total is not None else ZERO


def _grant_entry(grant_id: int) -> CreditEntry | None:
    return (
        CreditEntry.objects.filter(grant_id=grant_id, kind=CreditEntryKind.GRANT)
        .order_by("pk")
        .first()
    )


def purchase_rows(customer: Customer, limit: int = 25) -> list[PurchaseRow]:
    """The customer's latest purchases, newest first, with the balance after each paid one."""
    purchases = (
        CreditPurchase.objects.filter(customer=customer)
        .select_related("grant", "rule")
        .order_by("-created_at", "-pk")[:limit]
    )
    rows = []
    for purchase in purchases:
        after = None
        if purchase.status == PurchaseStatus.SUCCEEDED and purchase.grant_id is not None:
            entry = _grant_entry(purchase.grant_id)
            if entry is not None:
                after = balance_at(customer.pk, purchase.currency, entry.created_at, entry.pk)
        rows.append(PurchaseRow(purchase, after))
    return rows


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
