"""Reads of the credit ledger. A balance is always ``SUM(entries.amount)`` (invariant 9)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from decimal import Decimal

from django.db.models import DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from accounts.models import Customer
from invoicing.models import CreditEntry, CreditEntryKind, CreditGrant
from invoicing.periods import Period
from invoicing.selectors.computation import GrantBalance

ZERO = Decimal(0)
_BALANCE = Coalesce(
    Sum("entries__amount"), Value(ZERO), output_field=DecimalField(max_digits=24, decimal_places=4)
)


# A usable grant did not expire by the period's end, so an expiry the billing run posted
# since (finalization comes a grace period later) does not count against this invoice:
# ``credit_draw`` undoes as much of it as the invoice draws.
_BALANCE_BEFORE_EXPIRY = Coalesce(
    Sum("entries__amount", filter=~Q(entries__kind=CreditEntryKind.EXPIRY)),
    Value(ZERO),
    output_field=DecimalField(max_digits=24, decimal_places=4),
)


def grants_with_balance(customer: Customer) -> QuerySet[CreditGrant]:
    return CreditGrant.objects.filter(customer=customer).annotate(balance=_BALANCE)


def grant_balance(grant_id: int) -> Decimal:
    total = CreditEntry.objects.filter(grant_id=grant_id).aggregate(s=Sum("amount"))["s"]
    return total if total is not None else ZERO


def credits_as_of(period_end: datetime) -> datetime:
    """The instant at which grants are judged for an invoice of a period: the period's end.

    The one "as of" of credits, whoever computes the invoice and whenever (the preview in the
    middle of the period, the draft, the finalization a grace period later): a grant pays the
    invoice iff it is in effect before this instant and has not expired by it. A grant that
    expires inside the period pays nothing on that period's invoice; one that expires after
    the period's end pays it even when the finalization comes after the expiry."""
    return period_end


def usable_grants_q(currency: str, period: Period) -> Q:
    """Grants that may pay an invoice of this period: same currency, in effect before
    ``credits_as_of(period.end)`` and not expired by it."""
    as_of = credits_as_of(period.end)
    return (
        Q(currency=currency)
        & Q(effective_at__lt=as_of)
        & (Q(expires_at__isnull=True) | Q(expires_at__gt=as_of))
    )


def usable_grant_balances(
    customer: Customer, currency: str, period: Period, *, lock: bool = False
) -> list[GrantBalance]:
    """Grants with a positive balance for this period, ordered for drawing (the balance before
    any expiry posted after ``credits_as_of(period.end)``).

    With ``lock=True`` the grant rows are locked (in primary key order, to avoid deadlocks)
    before their balances are summed, so the balances cannot change until the transaction ends.
    """
    grants = CreditGrant.objects.filter(usable_grants_q(currency, period), customer=customer)
    if lock:
        ids = list(grants.order_by("pk").select_for_update().values_list("pk", flat=True))
        if not ids:
            return []
        grants = CreditGrant.objects.filter(pk__in=ids)
    rows = grants.annotate(balance=_BALANCE_BEFORE_EXPIRY).order_by("pk")
    return [
        GrantBalance(g.pk, g.kind, g.balance, g.expires_at, g.priority, g.created_at)
        for g in rows
        if g.balance > 0
    ]


def customer_credit_summary(customer: Customer, *, at: datetime) -> dict[str, Decimal]:
    """Balance per currency of the grants in effect and not expired at ``at``."""
    summary: dict[str, Decimal] = {}
    live = grants_with_balance(customer).filter(
        Q(effective_at__lte=at) & (Q(expires_at__isnull=True) | Q(expires_at__gt=at))
    )
    for grant in live:
        balance: Decimal = grant.balance  # type: ignore[attr-defined]
        summary[grant.currency] = summary.get(grant.currency, ZERO) + balance
    return summary


def live_grant_balances(
    customer_ids: Collection[int], *, at: datetime
) -> list[tuple[int, str, str | None, Decimal, Decimal]]:
    """The grants in effect and not expired at ``at`` of many customers, with their ledger
    balances, in one query: ``(customer id, currency, commit kind or None, amount granted,
    balance)``. ``customer_credit_summary`` and the alerts' commit burn read the same rows for
    one customer."""
    rows = (
        CreditGrant.objects.filter(customer_id__in=list(customer_ids))
        .filter(Q(effective_at__lte=at) & (Q(expires_at__isnull=True) | Q(expires_at__gt=at)))
        .annotate(balance=_BALANCE)
        .order_by("customer_id", "pk")
        .values_list("customer_id", "currency", "commit__kind", "amount", "balance")
    )
    return [
        (pk, currency, kind, Decimal(amount), balance)
        for pk, currency, kind, amount, balance in rows
    ]


def customers_with_grants(customer_ids: Collection[int]) -> set[int]:
    """Which of ``customer_ids`` have any credit grant (whatever its state), in one query: the
    others' invoices draw no credit, so their computation need not read grants."""
    found = CreditGrant.objects.filter(customer_id__in=list(customer_ids))
    return set(found.values_list("customer_id", flat=True).distinct())
