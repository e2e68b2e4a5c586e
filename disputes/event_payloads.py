"""``data`` of the refund and dispute events (schemas in ``billingsite.webhooks.catalog``)."""

from __future__ import annotations

from typing import Any

from billingsite.money import amount_of, format_amount, round_line
from disputes.models import Dispute, Refund


def _money(amount: Any, currency: str) -> str:
    return format_amount(round_line(amount_of(amount, currency), currency), currency)


def refund_event(refund: Refund) -> dict[str, Any]:
    return {
        "refund": {
            "id": refund.pk,
            "customer": refund.customer.external_id,
            "invoice": refund.invoice.number if refund.invoice else None,
            "stripe_refund_id": refund.stripe_refund_id,
            "amount": _money(refund.amount, refund.currency),
            "currency": refund.currency,
            "status": refund.status,
            "reason": refund.reason,
            "failure_reason": refund.failure_reason,
            "created_at": refund.created_at,
            "settled_at": refund.settled_at,
        }
    }


def dispute_event(dispute: Dispute) -> dict[str, Any]:
    return {
        "dispute": {
            "id": dispute.stripe_id,
            "customer": dispute.customer.external_id if dispute.customer else None,
            "invoice": dispute.invoice.number if dispute.invoice else None,
            "amount": _money(dispute.amount, dispute.currency),
            "currency": dispute.currency,
            "status": dispute.status,
            "reason": dispute.reason,
            "created_at": dispute.created_at,
        }
    }
