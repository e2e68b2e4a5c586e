"""What a credit purchase's payment came to: a paid grant, or a failure announced.

Both run under a row lock on the purchase and act only on a ``pending`` one, so a handler that
runs again (a worker died after Stripe answered) finds the purchase settled and does nothing:
one grant per purchase (also a one-to-one column), one announcement (keyed by the purchase).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from billingsite.events import emit
from billingsite.money import amount_of
from invoicing.event_payloads import credit_purchase_event
from invoicing.models import (
    AutoRechargeRule,
    CreditPurchase,
    GrantKind,
    PurchaseSource,
    PurchaseStatus,
)
from invoicing.services.credits import credit_grant_create


def _locked(purchase_id: int) -> CreditPurchase:
    return (
        CreditPurchase.objects.select_for_update(of=("self",))
        .select_related("customer")
        .get(pk=purchase_id)
    )


@transaction.atomic
def credit_purchase_settle(*, purchase_id: int, payment_intent_id: str) -> CreditPurchase:
    """The payment succeeded: grant the paid credit once and announce it."""
    purchase = _locked(purchase_id)
    if purchase.status != PurchaseStatus.PENDING:
        return purchase
    label = "Auto-recharge" if purchase.source == PurchaseSource.AUTO_RECHARGE else "Top-up"
    grant = credit_grant_create(
        customer=purchase.customer,
        kind=GrantKind.PAID,
        amount=amount_of(purchase.amount),
        currency=purchase.currency,
        effective_at=timezone.now(),
        contract=purchase.rule.contract if purchase.rule_id and purchase.rule else None,
        note=f"{label}: credit purchase #{purchase.pk} ({payment_intent_id})"[:200],
        actor=purchase.created_by,
    )
    purchase.grant = grant
    purchase.status = PurchaseStatus.SUCCEEDED
    purchase.stripe_payment_intent_id = payment_intent_id
    purchase.settled_at = timezone.now()
    purchase.save(update_fields=["grant", "status", "stripe_payment_intent_id", "settled_at"])
    emit(
        "credit_purchase.succeeded",
        credit_purchase_event(purchase),
        key=f"credit_purchase.succeeded:{purchase.pk}",
    )
    return purchase


@transaction.atomic
def credit_purchase_fail(
    *, purchase_id: int, code: str, message: str, payment_intent_id: str = ""
) -> CreditPurchase:
    """The payment failed (or cannot be attempted): no grant; the purchase's rule stops until
    Finance enables it again; ``credit_purchase.failed`` tells the operator's webhooks."""
    purchase = _locked(purchase_id)
    if purchase.status != PurchaseStatus.PENDING:
        return purchase
    now = timezone.now()
    purchase.status = PurchaseStatus.FAILED
    purchase.failure_code = code[:100]
    purchase.failure_message = message[:500]
    purchase.stripe_payment_intent_id = payment_intent_id
    purchase.settled_at = now
    purchase.save(
        update_fields=[
            "status",
            "failure_code",
            "failure_message",
            "stripe_payment_intent_id",
            "settled_at",
        ]
    )
    if purchase.rule_id is not None:
        rule = AutoRechargeRule.objects.select_for_update().get(pk=purchase.rule_id)
        rule.enabled = False
        rule.stopped_at = now
        rule.stopped_reason = f"Payment failed for purchase #{purchase.pk}: {code}"[:300]
        rule.save(update_fields=["enabled", "stopped_at", "stopped_reason", "updated_at"])
    emit(
        "credit_purchase.failed",
        credit_purchase_event(purchase),
        key=f"credit_purchase.failed:{purchase.pk}",
    )
    return purchase
