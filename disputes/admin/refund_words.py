"""What the refund pages say: the next step for each status and the confirmation messages,
in the words Support and Finance use ("Refund of 10.00 USD approved; it will be sent to
Stripe"), so the request and decide views only pick the sentence."""

from __future__ import annotations

from django.conf import settings

from billingsite.display import money_text
from disputes.models import Refund
from disputes.states import RefundStatus
from invoicing.stripe.config import stripe_configured


def refund_amount(refund: Refund) -> str:
    return money_text(refund.amount, refund.currency)


def _what(refund: Refund) -> str:
    where = f" on invoice {refund.invoice.number}" if refund.invoice_id and refund.invoice else ""
    return f"Refund of {refund_amount(refund)}{where}"


def _to_stripe() -> str:
    if stripe_configured():
        return "it will be sent to Stripe"
    return "it will be sent to Stripe once Stripe is configured"


def requested_message(refund: Refund) -> str:
    if refund.status == RefundStatus.REQUESTED:
        return f"{_what(refund)} requested; it waits for a Finance approver."
    return f"{_what(refund)} requested and approved (within the threshold); {_to_stripe()}."


def decided_message(refund: Refund, decision: str) -> str:
    if decision == "approve":
        return f"{_what(refund)} approved; {_to_stripe()}."
    if decision == "reject":
        return f"{_what(refund)} rejected; nothing is sent to Stripe and the customer is told."
    return f"{_what(refund)} canceled; nothing is sent to Stripe."


def next_step(refund: Refund) -> str:
    """One sentence: who acts next, or that nothing is left to do."""
    status = refund.status
    if status == RefundStatus.REQUESTED:
        threshold = money_text(settings.REFUND_APPROVAL_THRESHOLD, refund.currency)
        return (
            f"Waiting for a Finance approver (refunds above {threshold} need one). "
            "Finance approves or rejects it here; Support can still cancel it."
        )
    if status == RefundStatus.APPROVED:
        return f"Approved; {_to_stripe()}. Nothing to do."
    if status in (RefundStatus.PENDING, RefundStatus.REQUIRES_ACTION):
        return "Stripe is processing it; the status changes when Stripe reports back."
    if status == RefundStatus.SUCCEEDED:
        return "Refunded to the customer; a credit note records it. Nothing left to do."
    if status == RefundStatus.FAILED:
        reason = f" ({refund.failure_reason})" if refund.failure_reason else ""
        return f"Stripe could not refund it{reason}. Request a new refund if still owed."
    if status == RefundStatus.REJECTED:
        return "Rejected by Finance; nothing was sent to Stripe."
    return "Canceled; nothing was sent to Stripe."
