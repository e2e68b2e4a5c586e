"""Credit top-ups and auto-recharge: open a purchase and enqueue its Stripe charge.

Nothing here grants credit: a purchase becomes a paid grant only when Stripe says the payment
succeeded (``invoicing.services.credit_purchase_settle``). This module is imported by the
credit ledger service (``credits``) to check the rules after every balance event, so it never
imports that service back.

Exactly once per crossing: ``auto_recharge_check`` runs in the transaction of the ledger entry
that lowered the balance, locks the customer's rule row (so concurrent draws on any grants are
serialised here, and each sees the ones committed before it), sums the live balance, and opens a
purchase only when the balance is below the threshold and no purchase of the rule is in flight.
The unique constraints on ``CreditPurchase`` hold the same rules if a caller ever skipped the
lock.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.models import Customer
from billingsite.errors import AppError
from billingsite.money import amount_of, normalize_currency, parse_decimal, positive_amount
from billingsite.outbox.services import outbox_enqueue
from invoicing.models import (
    AutoRechargeRule,
    Contract,
    CreditEntry,
    CreditPurchase,
    PurchaseSource,
    PurchaseStatus,
)
from invoicing.stripe.topics import CREDIT_PURCHASE_TOPIC, credit_recharge_key, credit_top_up_key


def customer_credit_balance(customer_id: int, currency: str, *, at: datetime) -> Decimal:
    """The customer's live credit in ``currency``: grants in effect and not expired at ``at``."""
    live = Q(
        grant__customer_id=customer_id, grant__currency=currency, grant__effective_at__lte=at
    ) & (Q(grant__expires_at__isnull=True) | Q(grant__expires_at__gt=at))
    total = CreditEntry.objects.filter(live).aggregate(s=Sum("amount"))["s"]
    return total if total is not None else Decimal(0)


def _charge_amount(value: Any, currency: str) -> Decimal:
    """Positive, with no more places than the currency's minor unit (it is charged as is)."""
    return positive_amount(value, currency, "amount")


def _enqueue(purchase: CreditPurchase) -> None:
    outbox_enqueue(CREDIT_PURCHASE_TOPIC, purchase.idempotency_key, {"purchase_id": purchase.pk})


def _form_key(customer: Customer, request_key: str) -> str:
    """``credit-top-up:c<customer>:<key>``: a form's one-time key, scoped to its customer."""
    if not request_key.isalnum() or len(request_key) > 64:
        raise AppError("validation_error", "The purchase form is not valid; reload the page.")
    return f"credit-top-up:c{customer.pk}:{request_key}"


@transaction.atomic
def credit_top_up_request(
    *,
    customer: Customer,
    amount: Any,
    currency: str,
    actor: User | None = None,
    request_key: str = "",
) -> CreditPurchase:
    """A one-off purchase of ``amount`` of paid credit, charged on the customer's default
    payment method by the outbox; granted when the payment succeeds.

    ``request_key`` (the usage pages' form sends a one-time key): the same key for the same
    customer answers the purchase it opened first, so a double submit buys once; the unique
    ``idempotency_key`` holds that under concurrency (the loser waits on the winner's insert,
    then finds its row)."""
    currency = normalize_currency(currency)
    value = _charge_amount(amount, currency)
    key = _form_key(customer, request_key) if request_key else f"new:{uuid4().hex}"
    if request_key:
        found = _purchase_by_key(customer, key)
        if found is not None:
            return found
    try:
        with transaction.atomic():
            purchase = CreditPurchase.objects.create(
                customer=customer,
                source=PurchaseSource.TOP_UP,
                currency=currency,
                amount=value,
                idempotency_key=key,
                created_by=actor,
            )
    except IntegrityError:
        found = _purchase_by_key(customer, key) if request_key else None
        if found is None:
            raise
        return found
    if not request_key:
        purchase.idempotency_key = credit_top_up_key(purchase.pk)
        purchase.save(update_fields=["idempotency_key"])
    _enqueue(purchase)
    return purchase


def _purchase_by_key(customer: Customer, key: str) -> CreditPurchase | None:
    return CreditPurchase.objects.filter(customer=customer, idempotency_key=key).first()


@transaction.atomic
def auto_recharge_rule_set(
    *,
    customer: Customer,
    currency: str,
    threshold: Any,
    amount: Any,
    max_per_month: int = 3,
    enabled: bool = True,
    contract: Contract | None = None,
) -> AutoRechargeRule:
    """Create or change the customer's rule for ``currency`` (one per currency). Enabling a
    stopped rule clears why it stopped. The rule acts on the next balance event."""
    currency = normalize_currency(currency)
    limit = parse_decimal(threshold, "threshold")
    if limit < 0:
        raise AppError("invalid_rule", "threshold cannot be negative.")
    if max_per_month < 1:
        raise AppError("invalid_rule", "max_per_month must be at least 1.")
    values: dict[str, Any] = {
        "threshold": limit,
        "amount": _charge_amount(amount, currency),
        "max_per_month": max_per_month,
        "enabled": enabled,
        "contract": contract,
    }
    if enabled:
        values.update(stopped_at=None, stopped_reason="")
    rule, _created = AutoRechargeRule.objects.select_for_update().update_or_create(
        customer=customer, currency=currency, defaults=values
    )
    return rule


def _month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def auto_recharge_check(*, entry: CreditEntry, customer_id: int) -> CreditPurchase | None:
    """After ``entry`` lowered a balance: open the rule's recharge if the live balance is now
    below its threshold, none is in flight and the month's cap is not reached. Runs inside the
    caller's transaction (the ledger write); returns the purchase opened, if any."""
    if amount_of(entry.amount) >= 0:
        return None
    rule = (
        AutoRechargeRule.objects.select_for_update()
        .filter(customer_id=customer_id, currency=entry.currency, enabled=True)
        .first()
    )
    if rule is None:
        return None
    now = timezone.now()
    balance = customer_credit_balance(customer_id, rule.currency, at=now)
    if balance >= amount_of(rule.threshold):
        return None
    purchases = CreditPurchase.objects.filter(rule=rule)
    if purchases.filter(status=PurchaseStatus.PENDING).exists():
        return None  # this crossing is being bought already
    if purchases.filter(created_at__gte=_month_start(now)).count() >= rule.max_per_month:
        return None
    purchase = CreditPurchase.objects.create(
        customer_id=customer_id,
        source=PurchaseSource.AUTO_RECHARGE,
        rule=rule,
        trigger_entry=entry,
        currency=rule.currency,
        amount=amount_of(rule.amount),
        idempotency_key=credit_recharge_key(rule.pk, entry.pk),
    )
    _enqueue(purchase)
    return purchase
