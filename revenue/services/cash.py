"""Posting rules for money movements and expiries (docs/revenue-recognition.md).

- a payment captured: debit cash, credit receivable;
- a refund settled: debit refunds payable (credited by the refund's credit note, when it has
  one), credit cash;
- a dispute lost: debit dispute losses with the amount and Stripe's fee, credit cash (the
  revenue stays recognized: the customer received the service);
- a funded credit grant expiring: its remaining deferred balance becomes breakage revenue,
  debit deferred revenue, credit breakage, on the grant's expiry day.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import transaction

from billingsite.money import amount_of
from disputes.models import Dispute, Refund
from disputes.services.disputes import dispute_fee
from disputes.states import DisputeStatus, RefundStatus
from invoicing.models import CreditEntry, Payment
from invoicing.models.stripe import PaymentStatus
from revenue.models import Account, JournalEntry, RecognitionSchedule, SourceType
from revenue.services.journal import Leg, book_date, entry_post
from revenue.services.schedules import grant_subject, last_day


@transaction.atomic
def post_payment(payment: Payment) -> JournalEntry | None:
    """Cash in for a succeeded payment's captured amount, once."""
    captured = amount_of(payment.amount_captured)
    if payment.status != PaymentStatus.SUCCEEDED or captured <= 0:
        return None
    customer_id = payment.customer_id
    entry, _ = entry_post(
        key=f"payment:{payment.pk}",
        source_type=SourceType.PAYMENT,
        source_id=payment.pk,
        on=book_date(payment.stripe_created or payment.created_at),
        currency=payment.currency,
        legs=[
            Leg(Account.CASH, captured, customer_id),
            Leg(Account.RECEIVABLE, -captured, customer_id),
        ],
        memo=f"Payment {payment}",
    )
    return entry


@transaction.atomic
def post_refund(refund: Refund) -> JournalEntry | None:
    """Cash out for a succeeded refund, once."""
    if refund.status != RefundStatus.SUCCEEDED:
        return None
    amount, customer_id = amount_of(refund.amount), refund.customer_id
    entry, _ = entry_post(
        key=f"refund:{refund.pk}",
        source_type=SourceType.REFUND,
        source_id=refund.pk,
        on=book_date(refund.settled_at or refund.updated_at),
        currency=refund.currency,
        legs=[
            Leg(Account.REFUNDS, amount, customer_id),
            Leg(Account.CASH, -amount, customer_id),
        ],
        memo=f"Refund #{refund.pk} settled",
    )
    return entry


@transaction.atomic
def post_dispute(dispute: Dispute) -> JournalEntry | None:
    """The amount and the fee of a lost dispute written off against cash, once."""
    if dispute.status != DisputeStatus.LOST:
        return None
    lost = amount_of(dispute.amount) + dispute_fee(dispute.currency)
    entry, _ = entry_post(
        key=f"dispute:{dispute.pk}",
        source_type=SourceType.DISPUTE,
        source_id=dispute.pk,
        on=book_date(dispute.closed_at or dispute.updated_at),
        currency=dispute.currency,
        legs=[
            Leg(Account.DISPUTE_LOSSES, lost, dispute.customer_id, "dispute"),
            Leg(Account.CASH, -lost, dispute.customer_id),
        ],
        memo=f"Dispute {dispute.stripe_id} lost (amount and fee)",
    )
    return entry


def _expiry_day(expiry: CreditEntry) -> date:
    """A grant expiring at midnight was usable through the day before: breakage falls there.
    An undo (a later invoice drew what had expired) is booked when it happened, never before
    the breakage it reverses (that month may be closed)."""
    grant = expiry.grant
    day = last_day(grant.expires_at) if grant.expires_at else book_date(expiry.created_at)
    if amount_of(expiry.amount) > 0:
        day = max(day, book_date(expiry.created_at))
    return day


@transaction.atomic
def post_grant_expiry(expiry: CreditEntry) -> JournalEntry | None:
    """Breakage for what expired of a funded (prepaid or credit-note) grant, once; an expiry
    undone (a positive ``expiry`` entry, ``invoicing.services.credits._expiry_undo``) reverses
    that much breakage back into the grant's deferred balance, after the grant's earlier
    expiries are posted. Promotional grants post nothing."""
    grant = expiry.grant
    subject = grant_subject(grant)
    amount = -amount_of(expiry.amount)  # > 0 expired, < 0 undone
    if subject is None or amount == 0:
        return None
    if amount < 0:
        earlier = CreditEntry.objects.filter(
            grant=grant, kind=expiry.kind, amount__lt=0, pk__lt=expiry.pk
        )
        for previous in earlier.order_by("pk"):
            post_grant_expiry(previous)
    day = _expiry_day(expiry)
    tags = (subject.invoice_line_id, subject.credit_grant_id)
    key = f"grant_expiry:{expiry.pk}"
    memo = "expired unused" if amount > 0 else "expiry undone by a later draw"
    entry, created = entry_post(
        key=key,
        source_type=SourceType.GRANT_EXPIRY,
        source_id=expiry.pk,
        on=day,
        currency=grant.currency,
        legs=[
            Leg(Account.DEFERRED_REVENUE, amount, grant.customer_id, "breakage", *tags),
            Leg(Account.BREAKAGE, -amount, grant.customer_id, "breakage", *tags),
        ],
        memo=f"Credit grant #{grant.pk} {memo}",
    )
    if created:
        RecognitionSchedule.objects.create(
            invoice_line_id=subject.invoice_line_id,
            credit_grant_id=subject.credit_grant_id,
            customer_id=grant.customer_id,
            currency=grant.currency,
            on_date=day,
            amount=Decimal(amount),
            account=Account.BREAKAGE,
            charge_key="breakage",
            origin=key,
            journal_entry=entry,
        )
    return entry
