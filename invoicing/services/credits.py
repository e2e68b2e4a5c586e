"""Credit ledger writes. Entries are append-only; a grant's balance is the sum of its entries.

Draw-downs and reversals run under a row lock on the grant (taken in primary-key order), and a
draw never exceeds the balance summed under that lock, so credits never go below zero.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Sum

from accounts.models import Customer
from billingsite.errors import AppError, Conflict
from billingsite.events import emit
from billingsite.money import positive_amount
from invoicing.alerts.queue import alerts_mark_customers
from invoicing.event_payloads import credit_grant_event
from invoicing.models import (
    Commit,
    Contract,
    CreditEntry,
    CreditEntryKind,
    CreditGrant,
    GrantKind,
    Invoice,
)
from invoicing.selectors.credits import credits_as_of, grant_balance
from invoicing.services.credit_topups import auto_recharge_check


@transaction.atomic
def credit_grant_create(
    *,
    customer: Customer,
    kind: str,
    amount: Any,
    currency: str,
    effective_at: datetime,
    expires_at: datetime | None = None,
    priority: int = 100,
    contract: Contract | None = None,
    commit: Commit | None = None,
    note: str = "",
    actor: User | None = None,
) -> CreditGrant:
    """A grant and its first ledger entry (+amount), in one transaction."""
    if kind not in GrantKind.values:
        raise AppError(
            "invalid_grant", "kind must be 'promotional' or 'paid'.", details={"kind": kind}
        )
    currency = currency.upper()
    amount = positive_amount(amount, currency, "amount")
    if expires_at is not None and expires_at <= effective_at:
        raise AppError(
            "invalid_grant",
            "expires_at must be after effective_at.",
            details={"expires_at": expires_at.isoformat()},
        )
    grant = CreditGrant.objects.create(
        customer=customer,
        kind=kind,
        amount=amount,
        currency=currency,
        effective_at=effective_at,
        expires_at=expires_at,
        priority=priority,
        contract=contract,
        commit=commit,
        note=note,
        created_by=actor,
    )
    CreditEntry.objects.create(
        grant=grant,
        kind=CreditEntryKind.GRANT,
        currency=currency,
        amount=amount,
        note=note,
        created_by=actor,
    )
    emit("credit_grant.created", credit_grant_event(grant), key=f"credit_grant.created:{grant.pk}")
    alerts_mark_customers([customer.pk])  # credit balance alerts see the new balance
    return grant


@transaction.atomic
def credit_grant_void(*, grant: CreditGrant, reason: str, actor: User | None = None) -> CreditEntry:
    """Take back what is left of a grant: one ``adjustment`` entry of minus its balance,
    summed under the grant's lock (what invoices drew stays drawn). Voiding twice is refused."""
    if not reason.strip():
        raise AppError("reason_required", "Say why the credit grant is voided.")
    _lock([grant.pk])
    balance = grant_balance(grant.pk)
    if balance <= 0:
        raise Conflict(
            "grant_empty",
            f"Credit grant #{grant.pk} has nothing left to void.",
            details={"balance": str(balance)},
        )
    entry = CreditEntry.objects.create(
        grant_id=grant.pk,
        kind=CreditEntryKind.ADJUSTMENT,
        currency=grant.currency,
        amount=-balance,
        note=f"Voided: {reason}"[:200],
        created_by=actor,
    )
    auto_recharge_check(entry=entry, customer_id=grant.customer_id)
    return entry


def _lock(grant_ids: list[int]) -> None:
    list(
        CreditGrant.objects.filter(pk__in=sorted(grant_ids))
        .order_by("pk")
        .select_for_update()
        .values_list("pk", flat=True)
    )


@transaction.atomic
def credit_draw(*, invoice: Invoice, draws: list[tuple[int, Decimal]]) -> list[CreditEntry]:
    """Write one draw-down entry per (grant id, amount) for ``invoice``.

    Refuses to overdraw: each amount is checked against the balance summed under the lock.
    The caller computed the draws under the same locks, so this check is a last line of defence.
    """
    _lock([grant_id for grant_id, _amount in draws])
    entries = []
    for grant_id, amount in draws:
        balance = grant_balance(grant_id)
        if 0 < amount and balance < amount:
            balance += _expiry_undo(invoice, grant_id, amount - balance)
        if amount <= 0 or amount > balance:
            raise Conflict(
                "credit_overdrawn",
                f"Grant #{grant_id} has {balance} left, cannot draw {amount}.",
                details={"grant_id": grant_id},
            )
        entries.append(
            CreditEntry.objects.create(
                grant_id=grant_id,
                kind=CreditEntryKind.DRAWDOWN,
                currency=invoice.currency,
                amount=-amount,
                invoice=invoice,
                note=f"Invoice {invoice.number or invoice.pk}",
            )
        )
    if entries:  # the last draw-down is the balance event a recharge is keyed on
        auto_recharge_check(entry=entries[-1], customer_id=invoice.customer_id)
    alerts_mark_customers([invoice.customer_id])
    return entries


def _expiry_undo(invoice: Invoice, grant_id: int, shortfall: Decimal) -> Decimal:
    """Give back up to ``shortfall`` of what expired on a grant that ``invoice`` may still draw.

    A grant pays the invoices of periods that end before it expires
    (``selectors.credits.credits_as_of``), but the billing run posts the expiry when the grant
    expires, which can come before such an invoice is finalized (grace hours, a late run).
    That invoice draws what expired as if it had not: a positive ``expiry`` entry, then the
    draw-down. Called under the grant's row lock."""
    grant = CreditGrant.objects.get(pk=grant_id)
    if grant.expires_at is None or grant.expires_at <= credits_as_of(invoice.period_end):
        return Decimal(0)  # it had expired by the period's end: nothing to give back
    expired = -(
        CreditEntry.objects.filter(grant_id=grant_id, kind=CreditEntryKind.EXPIRY).aggregate(
            s=Sum("amount")
        )["s"]
        or Decimal(0)
    )
    undo = min(expired, shortfall)
    if undo <= 0:
        return Decimal(0)
    CreditEntry.objects.create(
        grant_id=grant_id,
        kind=CreditEntryKind.EXPIRY,
        currency=grant.currency,
        amount=undo,
        invoice=invoice,
        note=f"Expiry undone: invoice {invoice.number or invoice.pk} ends before it",
    )
    return undo


@transaction.atomic
def credit_reverse_for_invoice(*, invoice: Invoice, actor: User | None = None) -> int:
    """Give back what a voided invoice drew (once per grant: a unique constraint)."""
    drawn = (
        CreditEntry.objects.filter(invoice=invoice, kind=CreditEntryKind.DRAWDOWN)
        .values("grant_id")
        .annotate(total=Sum("amount"))
    )
    _lock([row["grant_id"] for row in drawn])
    done = set(
        CreditEntry.objects.filter(invoice=invoice, kind=CreditEntryKind.REVERSAL).values_list(
            "grant_id", flat=True
        )
    )
    count = 0
    for row in drawn:
        if row["grant_id"] in done:
            continue
        CreditEntry.objects.create(
            grant_id=row["grant_id"],
            kind=CreditEntryKind.REVERSAL,
            currency=invoice.currency,
            amount=-row["total"],
            invoice=invoice,
            created_by=actor,
            note=f"Void of invoice {invoice.number}",
        )
        count += 1
        _expire_again(invoice, row["grant_id"])
    if count:
        alerts_mark_customers([invoice.customer_id])
    return count


def _expire_again(invoice: Invoice, grant_id: int) -> None:
    """Expire at once what a void gave back to a grant whose expiry was posted already.

    ``credit_expire`` visits a grant once, so without this the returned amount would stay on an
    expired grant for good: a liability nobody can draw and that never becomes breakage. An
    invoice of a period that ends before the expiry can still draw it (``_expiry_undo``), as it
    could before the void. Called under the grant's row lock."""
    grant = CreditGrant.objects.get(pk=grant_id)
    posted = CreditEntry.objects.filter(grant_id=grant_id, kind=CreditEntryKind.EXPIRY).exists()
    balance = grant_balance(grant_id)
    if grant.expires_at is None or not posted or balance <= 0:
        return
    CreditEntry.objects.create(
        grant_id=grant_id,
        kind=CreditEntryKind.EXPIRY,
        currency=grant.currency,
        amount=-balance,
        note=f"Expired again: given back by the void of invoice {invoice.number or invoice.pk}",
    )


@transaction.atomic
def credit_expire(*, now: datetime) -> int:
    """Post an expiry entry for the remaining balance of every grant expired by ``now``."""
    expired = dict(
        CreditGrant.objects.filter(expires_at__lte=now)
        .exclude(entries__kind=CreditEntryKind.EXPIRY)
        .order_by("pk")
        .values_list("pk", "currency")
    )
    _lock(list(expired))
    count = 0
    owners = dict(CreditGrant.objects.filter(pk__in=list(expired)).values_list("pk", "customer_id"))
    for grant_id, currency in expired.items():
        balance = grant_balance(grant_id)
        if balance > 0:
            entry = CreditEntry.objects.create(
                grant_id=grant_id,
                kind=CreditEntryKind.EXPIRY,
                currency=currency,
                amount=-balance,
                note="Expired",
            )
            auto_recharge_check(entry=entry, customer_id=owners[grant_id])
            count += 1
    customers = owners.values()
    alerts_mark_customers(sorted(set(customers)))
    return count
