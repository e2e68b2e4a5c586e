"""Refund and dispute statuses, and the transitions allowed between refund statuses.

A refund transition is applied by ``disputes.services.refunds.refund_transition``: one
conditional UPDATE (``WHERE status IN allowed sources``) plus a ``RefundTransition`` audit row,
so two callers racing on one refund cannot both move it. Stripe's refund statuses (``pending``,
``requires_action``, ``succeeded``, ``failed``, ``canceled``) are ours too; ``requested``,
``approved`` and ``rejected`` happen before Stripe hears of the refund.
"""

from __future__ import annotations

from django.db import models

from billingsite.transitions import TransitionMap


class RefundStatus(models.TextChoices):
    REQUESTED = "requested", "Requested (awaiting approval)"
    APPROVED = "approved", "Approved (queued for Stripe)"
    REJECTED = "rejected", "Rejected"
    PENDING = "pending", "Pending at Stripe"
    REQUIRES_ACTION = "requires_action", "Requires customer action"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


_STRIPE_OUTCOMES = frozenset(
    {
        RefundStatus.PENDING,
        RefundStatus.REQUIRES_ACTION,
        RefundStatus.SUCCEEDED,
        RefundStatus.FAILED,
        RefundStatus.CANCELED,
    }
)

REFUND_TRANSITIONS = TransitionMap(
    {
        RefundStatus.REQUESTED: frozenset(
            {RefundStatus.APPROVED, RefundStatus.REJECTED, RefundStatus.CANCELED}
        ),
        # Stripe may answer the create with any of its statuses (localstripe: succeeded at once).
        RefundStatus.APPROVED: _STRIPE_OUTCOMES,
        RefundStatus.PENDING: _STRIPE_OUTCOMES - {RefundStatus.PENDING},
        RefundStatus.REQUIRES_ACTION: _STRIPE_OUTCOMES - {RefundStatus.REQUIRES_ACTION},
        RefundStatus.SUCCEEDED: frozenset(),
        RefundStatus.FAILED: frozenset(),
        RefundStatus.CANCELED: frozenset(),
        RefundStatus.REJECTED: frozenset(),
    }
)

# Refunds that hold part of the captured amount (the over-refund guard sums these).
RESERVING = (
    RefundStatus.REQUESTED,
    RefundStatus.APPROVED,
    RefundStatus.PENDING,
    RefundStatus.REQUIRES_ACTION,
    RefundStatus.SUCCEEDED,
)
SETTLED = (
    RefundStatus.SUCCEEDED,
    RefundStatus.FAILED,
    RefundStatus.CANCELED,
    RefundStatus.REJECTED,
)


def refund_sources_of(target: str) -> frozenset[str]:
    return REFUND_TRANSITIONS.sources_of(target)


def can_transition(current: str, target: str) -> bool:
    return REFUND_TRANSITIONS.allows(current, target)


class RefundReason(models.TextChoices):
    REQUESTED_BY_CUSTOMER = "requested_by_customer", "Requested by the customer"
    DUPLICATE = "duplicate", "Duplicate payment"
    BILLING_ERROR = "billing_error", "Billing error"
    SERVICE_ISSUE = "service_issue", "Service issue / outage"
    SLA_CREDIT = "sla_credit", "SLA credit"
    INVOICE_VOIDED = "invoice_voided", "Invoice voided after payment"
    FRAUDULENT = "fraudulent", "Fraudulent"
    OTHER = "other", "Other"


# Stripe's own refund reasons, sent along when ours maps to one.
STRIPE_REFUND_REASON = {
    RefundReason.DUPLICATE: "duplicate",
    RefundReason.FRAUDULENT: "fraudulent",
    RefundReason.REQUESTED_BY_CUSTOMER: "requested_by_customer",
}


class DisputeStatus(models.TextChoices):
    """Stripe's dispute statuses; ``warning_*`` are inquiries (no funds moved yet)."""

    WARNING_NEEDS_RESPONSE = "warning_needs_response", "Inquiry: needs response"
    WARNING_UNDER_REVIEW = "warning_under_review", "Inquiry: under review"
    WARNING_CLOSED = "warning_closed", "Inquiry: closed"
    NEEDS_RESPONSE = "needs_response", "Needs response"
    UNDER_REVIEW = "under_review", "Under review"
    WON = "won", "Won"
    LOST = "lost", "Lost"
    PREVENTED = "prevented", "Prevented"


DISPUTE_CLOSED = frozenset(
    {DisputeStatus.WARNING_CLOSED, DisputeStatus.WON, DisputeStatus.LOST, DisputeStatus.PREVENTED}
)
DISPUTE_OPEN = tuple(s for s in DisputeStatus.values if s not in DISPUTE_CLOSED)


# Stripe decides a dispute's status and may skip steps (an inquiry can close, a dispute can be
# won or lost without passing under review), so an open dispute may move to any status; a closed
# one never reopens. Applied by ``disputes.services.disputes.dispute_transition``.
DISPUTE_TRANSITIONS = TransitionMap(
    {
        status: (frozenset() if status in DISPUTE_CLOSED else frozenset(DisputeStatus.values))
        for status in DisputeStatus.values
    }
)
