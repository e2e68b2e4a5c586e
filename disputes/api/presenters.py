"""How a refund reads in API answers (the list and the refund endpoints share it)."""

from __future__ import annotations

from typing import Any

from disputes.models import Refund
from invoicing.api.presenters import money


def refund_data(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.pk,
        "customer": refund.customer.external_id,
        "invoice": refund.invoice.number if refund.invoice else None,
        "stripe_charge_id": refund.payment.stripe_charge_id,
        "stripe_refund_id": refund.stripe_refund_id,
        "amount": money(refund.amount, refund.currency),
        "currency": refund.currency,
        "status": refund.status,
        "reason": refund.reason,
        "created_at": refund.created_at.isoformat(),
        "settled_at": refund.settled_at.isoformat() if refund.settled_at else None,
    }
