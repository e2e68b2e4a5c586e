"""Reconciliation with Stripe: compare our records with Stripe's objects created in a period
and record every difference (missing on either side, amount, currency, status).

Sources are registered per object type (``register_reconciliation_source``): invoicing
registers invoices and charges (payments, with refunded amounts); ``disputes`` adds refunds and
disputes from its own ``AppConfig.ready()`` without invoicing importing it.

Stripe is read first, outside any transaction (lists can take a while); the differences and the
run's result are written together in one transaction. A run that cannot read Stripe is recorded
as ``failed`` with the error, never as clean.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billingsite.errors import AppError
from billingsite.money import SupportsAmount, amount_of, round_line, to_minor_units
from invoicing.models import (
    DifferenceKind,
    Invoice,
    Payment,
    ReconciliationDifference,
    ReconciliationRun,
    RunStatus,
)
from invoicing.states import InvoiceStatus
from invoicing.stripe.gateway import StripeGateway, default_gateway

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    """One object as one side sees it. ``amount`` in minor units; ``extra`` other amounts
    compared as ``amount`` differences (e.g. ``amount_refunded``)."""

    ref: str
    amount: int
    currency: str
    status: str
    extra: dict[str, int] = field(default_factory=dict)


Side = dict[str, Record]  # keyed by the Stripe id (or "tally:<ref>" when we never got one)


@dataclass(frozen=True)
class ReconciliationSource:
    object_type: str
    tally: Callable[[datetime, datetime], Side]
    stripe: Callable[[StripeGateway, datetime, datetime], Side]


_SOURCES: dict[str, ReconciliationSource] = {}


def register_reconciliation_source(source: ReconciliationSource) -> None:
    _SOURCES[source.object_type] = source


def reconciliation_sources() -> list[ReconciliationSource]:
    return [_SOURCES[name] for name in sorted(_SOURCES)]


def compare(object_type: str, tally: Side, stripe: Side) -> list[ReconciliationDifference]:
    """Every difference between the two sides, in a stable order."""
    found: list[ReconciliationDifference] = []

    def add(key: str, kind: str, ours: Any = "", theirs: Any = "", **details: Any) -> None:
        record = tally.get(key) or stripe.get(key)
        found.append(
            ReconciliationDifference(
                object_type=object_type,
                kind=kind,
                stripe_id="" if key.startswith("tally:") else key,
                tally_ref=tally[key].ref if key in tally else "",
                tally_value=str(ours)[:255],
                stripe_value=str(theirs)[:255],
                details={"ref": record.ref if record else "", **details},
            )
        )

    for key in sorted(set(tally) | set(stripe)):
        ours, theirs = tally.get(key), stripe.get(key)
        if theirs is None:
            add(key, DifferenceKind.MISSING_IN_STRIPE, ours.amount if ours else "")
            continue
        if ours is None:
            add(key, DifferenceKind.MISSING_IN_TALLY, "", theirs.amount)
            continue
        if ours.currency != theirs.currency:
            add(key, DifferenceKind.CURRENCY, ours.currency, theirs.currency)
        if ours.amount != theirs.amount:
            add(key, DifferenceKind.AMOUNT, ours.amount, theirs.amount, field="amount")
        for name in sorted(set(ours.extra) | set(theirs.extra)):
            if ours.extra.get(name, 0) != theirs.extra.get(name, 0):
                add(
                    key,
                    DifferenceKind.AMOUNT,
                    ours.extra.get(name, 0),
                    theirs.extra.get(name, 0),
                    field=name,
                )
        if ours.status != theirs.status:
            add(key, DifferenceKind.STATUS, ours.status, theirs.status)
    return found


def reconcile(
    *, start: datetime, end: datetime, trigger: str = "manual", gateway: StripeGateway | None = None
) -> ReconciliationRun:
    """Compare every registered source for ``[start, end)`` and record the report."""
    if end <= start:
        raise AppError("invalid_period", "The period must end after it starts.")
    run = ReconciliationRun.objects.create(period_start=start, period_end=end, trigger=trigger)
    differences: list[ReconciliationDifference] = []
    counts: dict[str, dict[str, int]] = {}
    try:
        gateway = gateway or default_gateway()
        for source in reconciliation_sources():
            theirs = source.stripe(gateway, start, end)
            ours = source.tally(start, end)
            counts[source.object_type] = {"tally": len(ours), "stripe": len(theirs)}
            differences += compare(source.object_type, ours, theirs)
    except AppError as exc:
        logger.error("reconciliation failed", extra={"run": run.pk, "error_code": exc.code})
        ReconciliationRun.objects.filter(pk=run.pk).update(
            status=RunStatus.FAILED,
            error=f"{exc.code}: {exc.message}",
            counts=counts,
            finished_at=timezone.now(),
        )
        run.refresh_from_db()
        return run
    with transaction.atomic():
        for difference in differences:
            difference.run = run
        ReconciliationDifference.objects.bulk_create(differences)
        run.status = RunStatus.DIFFERENCES if differences else RunStatus.CLEAN
        run.counts = counts
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "counts", "finished_at"])
    return run


# --- invoicing's sources -------------------------------------------------------------------


TALLY_TO_STRIPE_STATUS: dict[str, str] = {
    InvoiceStatus.FINALIZED: "open",
    InvoiceStatus.PAST_DUE: "open",
    InvoiceStatus.PAID: "paid",
    InvoiceStatus.VOID: "void",
    InvoiceStatus.UNCOLLECTIBLE: "uncollectible",
}


def _minor(amount: Decimal | SupportsAmount, currency: str) -> int:
    return to_minor_units(round_line(amount_of(amount, currency), currency), currency)


def tally_invoices(start: datetime, end: datetime) -> Side:
    """Issued invoices with something to collect: by their Stripe invoice's creation time, or,
    when never pushed, by issue time (then expected on Stripe and reported missing)."""
    pushed = Q(
        stripe__isnull=False, stripe__stripe_created__gte=start, stripe__stripe_created__lt=end
    )
    unpushed = Q(stripe__isnull=True, issued_at__gte=start, issued_at__lt=end) & ~Q(
        status=InvoiceStatus.VOID
    )
    side: Side = {}
    rows = (
        Invoice.objects.filter(pushed | unpushed)
        .exclude(status=InvoiceStatus.DRAFT)
        .select_related("stripe")
    )
    for invoice in rows:
        amount = _minor(invoice.total, invoice.currency)
        mirror = getattr(invoice, "stripe", None)
        if amount <= 0 and mirror is None:
            continue  # nothing to collect: never pushed (see stripe_invoices.invoice_push)
        key = mirror.stripe_id if mirror is not None else f"tally:invoice:{invoice.pk}"
        side[key] = Record(
            ref=str(invoice),
            amount=amount,
            currency=invoice.currency.upper(),
            status=TALLY_TO_STRIPE_STATUS.get(invoice.status, invoice.status),
        )
    return side


def stripe_invoices(gateway: StripeGateway, start: datetime, end: datetime) -> Side:
    side: Side = {}
    for obj in gateway.invoices_list(start, end):
        data = obj.to_dict()
        side[data["id"]] = Record(
            ref=str((data.get("metadata") or {}).get("tally_invoice_number") or data["id"]),
            amount=int(data.get("total") or 0),
            currency=str(data.get("currency")).upper(),
            status=str(data.get("status")),
        )
    return side


CHARGE_STATUS = {"succeeded": "succeeded", "failed": "failed", "pending": "processing"}


def tally_charges(start: datetime, end: datetime) -> Side:
    side: Side = {}
    rows = Payment.objects.filter(
        stripe_charge_id__isnull=False, stripe_created__gte=start, stripe_created__lt=end
    )
    for payment in rows:
        currency = payment.currency
        side[str(payment.stripe_charge_id)] = Record(
            ref=str(payment.stripe_payment_intent_id or payment.pk),
            amount=_minor(payment.amount_captured, currency),
            currency=currency.upper(),
            status=payment.status,
            extra={"amount_refunded": _minor(payment.amount_refunded, currency)},
        )
    return side


def stripe_charges(gateway: StripeGateway, start: datetime, end: datetime) -> Side:
    side: Side = {}
    for obj in gateway.charges_list(start, end):
        data = obj.to_dict()
        captured = data.get("amount_captured")
        if captured is None:
            captured = data.get("amount", 0) if data.get("captured") else 0
        intent = data.get("payment_intent")
        side[data["id"]] = Record(
            ref=str(intent.get("id") if isinstance(intent, dict) else intent or data["id"]),
            amount=int(captured or 0),
            currency=str(data.get("currency")).upper(),
            status=CHARGE_STATUS.get(str(data.get("status")), str(data.get("status"))),
            extra={"amount_refunded": int(data.get("amount_refunded") or 0)},
        )
    return side


def register() -> None:
    register_reconciliation_source(ReconciliationSource("invoice", tally_invoices, stripe_invoices))
    register_reconciliation_source(ReconciliationSource("charge", tally_charges, stripe_charges))


def differences_summary(runs: Iterable[ReconciliationRun]) -> list[str]:
    """One line per run, for the command's output."""
    return [
        f"run {run.pk} {run.period_start:%Y-%m-%d %H:%M} .. {run.period_end:%Y-%m-%d %H:%M}"
        f": {run.status}, {run.differences.count()} differences, {run.counts}"
        for run in runs
    ]
