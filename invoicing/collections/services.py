"""Collections writes: start (a payment failed), advance (the beat task), resolve (paid/closed).

Invariants:
- each step of an invoice happens at most once: it is a ``DunningStep`` row, unique per
  (invoice, step), inserted in the transaction that takes the step (the outbox row of a retry
  or reminder, the past-due transition, the suspension), so a rerun, a redelivered webhook or
  two workers racing change nothing;
- an invoice charged automatically is chased only after a payment failed (the card is charged
  at issue); one sent for manual payment is reminded around its due date;
- a late run takes only the latest step due of each kind and records the earlier ones as
  skipped, so a stalled beat never sends a burst of emails or charges;
- ``Customer.past_due_since`` is the earliest due date of the customer's past-due invoices
  (cleared when none is left); a suspension by collections is lifted when the invoice that
  caused it is paid or closed and no other suspending invoice is open.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, Min, OuterRef, Q

from accounts.models import Customer, CustomerStatus
from accounts.services import customer_past_due_set, customer_suspension_set
from billingsite.events import emit
from billingsite.outbox.services import outbox_enqueue
from invoicing.collections.schedule import DunningSchedule
from invoicing.collections.topics import (
    COLLECTION_REMINDER_TOPIC,
    COLLECTION_RETRY_TOPIC,
    collection_step_key,
)
from invoicing.models import (
    CollectionMethod,
    DunningOutcome,
    DunningStep,
    DunningStepKind,
    Invoice,
)
from invoicing.services.invoices import invoice_transition
from invoicing.states import OPEN_STATUSES, InvoiceStatus

logger = logging.getLogger(__name__)

PAYMENT_FAILED = "payment_failed"
Plan = list[tuple[str, datetime]]


def _step_take(
    invoice: Invoice,
    *,
    step: str,
    kind: str,
    due_at: datetime,
    now: datetime,
    outcome: str,
    details: dict[str, Any] | None = None,
) -> DunningStep | None:
    """Insert the step's row; None when it was taken already (the unique constraint decides)."""
    try:
        with transaction.atomic():
            return DunningStep.objects.create(
                invoice=invoice,
                customer_id=invoice.customer_id,
                step=step,
                kind=kind,
                due_at=due_at,
                taken_at=now,
                outcome=outcome,
                details=details or {},
            )
    except IntegrityError:
        return None


@transaction.atomic
def collection_start(*, invoice_id: int, at: datetime, reason: str) -> bool:
    """A payment of an open invoice failed: record ``payment_failed`` once (the retry schedule
    counts from it). True when this call started collections."""
    invoice = Invoice.objects.filter(pk=invoice_id, status__in=OPEN_STATUSES).first()
    if invoice is None:
        return False
    step = _step_take(
        invoice,
        step=PAYMENT_FAILED,
        kind=DunningStepKind.PAYMENT_FAILED,
        due_at=at,
        now=at,
        outcome=DunningOutcome.DONE,
        details={"reason": reason[:500]},
    )
    if step is None:
        return False
    # invoice.payment_failed is announced once per failed payment by the Stripe mirror
    # (invoicing.stripe.mirror), not again here.
    return True


@transaction.atomic
def collection_step_record(
    *, invoice_id: int, step: str, outcome: str, details: dict[str, Any] | None = None
) -> DunningStep | None:
    """Record what a scheduled step did (a retry's result, a reminder sent), with history."""
    row = DunningStep.objects.select_for_update().filter(invoice_id=invoice_id, step=step).first()
    if row is None:
        return None
    row.outcome = outcome
    row.details = {**row.details, **(details or {})}
    row.save(update_fields=["outcome", "details"])
    return row


@transaction.atomic
def collection_advance(
    *, invoice_id: int, now: datetime, schedule: DunningSchedule | None = None
) -> list[str]:
    """Take every step of the invoice's schedule due at ``now`` (each once); returns them.
    An invoice no longer open is resolved instead."""
    schedule = schedule or DunningSchedule.from_settings()
    invoice = (
        Invoice.objects.select_for_update(of=("self",))
        .select_related("contract")
        .filter(pk=invoice_id)
        .first()
    )
    if invoice is None or invoice.due_at is None:
        return []
    if invoice.status not in OPEN_STATUSES:
        return _resolve(invoice, now=now, reason=f"invoice {invoice.status}")
    steps = dict(DunningStep.objects.filter(invoice=invoice).values_list("step", "taken_at"))
    failed_at = steps.get(PAYMENT_FAILED)
    automatic = invoice.contract.collection_method == CollectionMethod.CHARGE_AUTOMATICALLY
    if automatic and failed_at is None:
        return []  # the card is charged at issue; nothing to chase unless that fails
    taken = set(steps)
    done: list[str] = []
    if automatic and failed_at is not None:
        done += _retry(invoice, schedule.retries(failed_at), taken, now)
    done += _remind(invoice, schedule.reminders(invoice.due_at), taken, now)
    if invoice.due_at <= now:
        done += _past_due(invoice, taken, now)
    suspend_at = schedule.suspension(invoice.due_at)
    if suspend_at is not None and suspend_at <= now:
        done += _suspend(invoice, suspend_at, taken, now)
    return done


def _due_steps(
    invoice: Invoice, plan: Plan, taken: set[str], now: datetime
) -> tuple[str, datetime] | None:
    """The latest step of ``plan`` due at ``now`` and not taken; earlier untaken ones are
    recorded as skipped (a late run must not send a burst)."""
    due = [(name, at) for name, at in plan if at <= now and name not in taken]
    if not due:
        return None
    for name, at in due[:-1]:
        kind = name.split(":")[0]
        _step_take(
            invoice,
            step=name,
            kind=kind,
            due_at=at,
            now=now,
            outcome=DunningOutcome.SKIPPED,
            details={"why": "a later step was due"},
        )
    return due[-1]


def _retry(invoice: Invoice, plan: Plan, taken: set[str], now: datetime) -> list[str]:
    step = _due_steps(invoice, plan, taken, now)
    if step is None:
        return []
    name, due_at = step
    row = _step_take(
        invoice,
        step=name,
        kind=DunningStepKind.RETRY,
        due_at=due_at,
        now=now,
        outcome=DunningOutcome.SCHEDULED,
    )
    if row is None:
        return []
    # handler: invoicing.stripe.collections (the row's key is the charge's idempotency key)
    key = collection_step_key(invoice.pk, name)
    outbox_enqueue(COLLECTION_RETRY_TOPIC, key, {"invoice_id": invoice.pk, "step": name})
    return [name]


def _remind(invoice: Invoice, plan: Plan, taken: set[str], now: datetime) -> list[str]:
    issued = invoice.issued_at or now
    plan = [(name, at) for name, at in plan if at >= issued]  # none before the invoice existed
    step = _due_steps(invoice, plan, taken, now)
    if step is None:
        return []
    name, due_at = step
    row = _step_take(
        invoice,
        step=name,
        kind=DunningStepKind.REMINDER,
        due_at=due_at,
        now=now,
        outcome=DunningOutcome.SCHEDULED,
    )
    if row is None:
        return []
    key = collection_step_key(invoice.pk, name)
    outbox_enqueue(COLLECTION_REMINDER_TOPIC, key, {"invoice_id": invoice.pk, "step": name})
    return [name]


def _past_due(invoice: Invoice, taken: set[str], now: datetime) -> list[str]:
    if invoice.status == InvoiceStatus.FINALIZED:
        invoice_transition(
            invoice=invoice, to=InvoiceStatus.PAST_DUE, reason="unpaid after its due date"
        )
    if "past_due" in taken:
        return []
    assert invoice.due_at is not None
    _step_take(
        invoice,
        step="past_due",
        kind=DunningStepKind.PAST_DUE,
        due_at=invoice.due_at,
        now=now,
        outcome=DunningOutcome.DONE,
    )
    _customer_past_due_refresh(invoice.customer_id, f"invoice {invoice} past due")
    data = {"invoice_id": invoice.pk, "customer_id": invoice.customer_id, "due_at": invoice.due_at}
    emit("invoice.past_due", data, key=f"invoice.past_due:{invoice.pk}")
    return ["past_due"]


def _suspend(invoice: Invoice, due_at: datetime, taken: set[str], now: datetime) -> list[str]:
    if "suspend" in taken:
        return []
    status = Customer.objects.values_list("status", flat=True).get(pk=invoice.customer_id)
    suspends = status == CustomerStatus.ACTIVE
    _step_take(
        invoice,
        step="suspend",
        kind=DunningStepKind.SUSPEND,
        due_at=due_at,
        now=now,
        outcome=DunningOutcome.DONE if suspends else DunningOutcome.SKIPPED,
        details={"suspended": suspends, "status_before": status},
    )
    if suspends:
        customer_suspension_set(
            customer_id=invoice.customer_id,
            suspended=True,
            reason=f"collections: invoice {invoice} unpaid",
        )
        data = {"customer_id": invoice.customer_id, "invoice_id": invoice.pk}
        emit("customer.suspended", data, key=f"customer.suspended:invoice:{invoice.pk}")
    return ["suspend"]


def _customer_past_due_refresh(customer_id: int, reason: str) -> None:
    since = Invoice.objects.filter(
        customer_id=customer_id, status=InvoiceStatus.PAST_DUE
    ).aggregate(since=Min("due_at"))["since"]
    customer_past_due_set(customer_id=customer_id, since=since, reason=reason)


@transaction.atomic
def collection_resolve(*, invoice_id: int, at: datetime, reason: str) -> list[str]:
    """The invoice was paid, voided or written off: close its collections (once), refresh the
    customer's past-due flag and lift the suspension it caused."""
    invoice = Invoice.objects.filter(pk=invoice_id).first()
    if invoice is None or invoice.status in OPEN_STATUSES:
        return []
    return _resolve(invoice, now=at, reason=reason)


def _resolve(invoice: Invoice, *, now: datetime, reason: str) -> list[str]:
    steps = DunningStep.objects.filter(invoice=invoice)
    if not steps.exists():
        return []  # never chased: nothing to close
    suspended = steps.filter(kind=DunningStepKind.SUSPEND, details__suspended=True).exists()
    row = _step_take(
        invoice,
        step="resolved",
        kind=DunningStepKind.RESOLVED,
        due_at=now,
        now=now,
        outcome=DunningOutcome.DONE,
        details={"reason": reason[:500], "status": invoice.status},
    )
    if row is None:
        return []
    _customer_past_due_refresh(invoice.customer_id, f"invoice {invoice} {invoice.status}")
    if suspended and not _other_suspending_invoice(invoice):
        customer_suspension_set(
            customer_id=invoice.customer_id,
            suspended=False,
            reason=f"collections: invoice {invoice} {invoice.status}",
        )
    data = {"invoice_id": invoice.pk, "status": invoice.status, "reason": reason}
    emit("invoice.collections_resolved", data, key=f"invoice.collections_resolved:{invoice.pk}")
    return ["resolved"]


def _other_suspending_invoice(invoice: Invoice) -> bool:
    return (
        DunningStep.objects.filter(
            customer_id=invoice.customer_id,
            kind=DunningStepKind.SUSPEND,
            details__suspended=True,
            invoice__status__in=OPEN_STATUSES,
        )
        .exclude(invoice=invoice)
        .exists()
    )


def collections_candidates(*, limit: int = 1000) -> list[int]:
    """Open invoices collections chases, and closed ones whose collections are not resolved."""
    steps = DunningStep.objects.filter(invoice=OuterRef("pk"))
    chased = Q(contract__collection_method=CollectionMethod.SEND_INVOICE) | Exists(
        steps.filter(kind=DunningStepKind.PAYMENT_FAILED)
    )
    open_ids = (
        Invoice.objects.filter(status__in=OPEN_STATUSES, due_at__isnull=False, total__gt=0)
        .filter(chased)
        .order_by("due_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    closed_ids = (
        Invoice.objects.exclude(status__in=OPEN_STATUSES)
        .filter(Exists(steps))
        .exclude(Exists(steps.filter(kind=DunningStepKind.RESOLVED)))
        .values_list("pk", flat=True)[:limit]
    )
    return list(open_ids) + list(closed_ids)


def collections_advance_all(
    *, now: datetime, schedule: DunningSchedule | None = None
) -> dict[str, int]:
    """The beat task's work: advance every candidate, each in its own transaction; a failure
    is logged and left for the next run."""
    schedule = schedule or DunningSchedule.from_settings()
    counts = {"invoices": 0, "steps": 0, "failed": 0}
    for invoice_id in collections_candidates():
        counts["invoices"] += 1
        try:
            counts["steps"] += len(
                collection_advance(invoice_id=invoice_id, now=now, schedule=schedule)
            )
        except Exception:
            counts["failed"] += 1
            logger.exception("collections: advancing invoice %s failed", invoice_id)
    return counts
