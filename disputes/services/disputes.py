"""Dispute writes: mirror Stripe's ``charge.dispute.*`` events, assign, keep notes, save and
submit evidence through the outbox, post outcomes to the ledger.

Invariants:

- one ``Dispute`` per Stripe id (unique), created or moved forward under a row lock; an older
  snapshot than the last applied, or one that would reopen a closed dispute, is ignored, so
  duplicate and out-of-order deliveries end in the state of the newest event;
- ledger postings are keyed (``dispute:<id>:withdrawn|won|lost``) and balanced: a withdrawal
  moves amount + fee from cash to ``disputed_funds``; ``won`` moves it back; ``lost`` writes the
  amount and the fee off against the invoice. A final status posts the withdrawal first if it
  was never seen, so every order of events ends with the same balances;
- evidence is sent by the outbox (``dispute:<id>:evidence:<submission id>``), never from the
  request; the final submission happens once (unique constraint) and is audited.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from billingsite.errors import AppError, Conflict
from billingsite.events import emit
from billingsite.money import amount_of, from_minor_units
from billingsite.outbox.services import outbox_enqueue
from disputes.event_payloads import dispute_event
from disputes.models import Dispute, DisputeEvidenceSubmission, DisputeNote, LedgerAccount
from disputes.services.ledger import ledger_post
from disputes.states import DISPUTE_CLOSED, DISPUTE_TRANSITIONS, DisputeStatus
from invoicing.models import Payment
from invoicing.stripe.events import StripeEvent

EVIDENCE_TOPIC = "stripe.dispute.update"
WORK_PERMISSION = "disputes.work_dispute"


def dispute_fee(currency: str) -> Decimal:
    fees: dict[str, str] = getattr(settings, "DISPUTE_FEES", {"USD": "15.00"})
    return Decimal(fees.get(currency.upper(), fees.get("default", "15.00")))


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if isinstance(value, int) else None


def _charge_id(obj: dict[str, Any]) -> str:
    charge = obj.get("charge")
    return str(charge.get("id") if isinstance(charge, dict) else charge or "")


def _fields(obj: dict[str, Any]) -> dict[str, Any]:
    currency = str(obj.get("currency") or "usd").upper()
    details = obj.get("evidence_details") or {}
    return {
        "amount": from_minor_units(int(obj.get("amount") or 0), currency),
        "currency": currency,
        "reason": str(obj.get("reason") or ""),
        "status": str(obj.get("status") or DisputeStatus.NEEDS_RESPONSE),
        "due_by": _ts(details.get("due_by")),
        "is_charge_refundable": bool(obj.get("is_charge_refundable")),
        "stripe_created": _ts(obj.get("created")),
    }


def _ensure(obj: dict[str, Any]) -> Dispute:
    """The dispute row for ``obj``, created (linked to payment, invoice, customer) if new."""
    charge_id = _charge_id(obj)
    payment = Payment.objects.filter(stripe_charge_id=charge_id).first() if charge_id else None
    intent = obj.get("payment_intent")
    if payment is None and isinstance(intent, str):
        payment = Payment.objects.filter(stripe_payment_intent_id=intent).first()
    try:
        with transaction.atomic():
            dispute, _ = Dispute.objects.get_or_create(
                stripe_id=obj["id"],
                defaults={
                    **_fields(obj),
                    "stripe_charge_id": charge_id,
                    "payment": payment,
                    "invoice_id": payment.invoice_id if payment else None,
                    "customer_id": payment.customer_id if payment else None,
                },
            )
    except IntegrityError:  # a concurrent delivery created it
        dispute = Dispute.objects.get(stripe_id=obj["id"])
    return dispute


@transaction.atomic
def dispute_apply_stripe(obj: dict[str, Any], *, at: datetime, event_type: str = "") -> Dispute:
    """Create or move forward the dispute from one snapshot taken at ``at``."""
    created = _ensure(obj)
    dispute = Dispute.objects.select_for_update().get(pk=created.pk)
    fresh = dispute.last_event_at is None or at >= dispute.last_event_at
    if fresh and dispute.status not in DISPUTE_CLOSED:
        fields = _fields(obj)
        dispute = dispute_transition(dispute=dispute, to=fields.pop("status"), at=at, **fields)
    withdrawn = event_type == "charge.dispute.funds_withdrawn" or any(
        isinstance(bt, dict) and int(bt.get("amount") or 0) < 0
        for bt in obj.get("balance_transactions") or []
    )
    _post_outcomes(dispute, withdrawn=withdrawn)
    emit("dispute.created", dispute_event(dispute), key=f"dispute.created:{dispute.pk}")
    return dispute


def dispute_transition(*, dispute: Dispute, to: str, at: datetime, **fields: Any) -> Dispute:
    """Move the row-locked ``dispute`` to Stripe's status ``to`` as of ``at``, with the other
    fields of that snapshot, if ``DISPUTE_TRANSITIONS`` allows it (a closed dispute never
    reopens). Saved through the model, so the audit history records every change."""
    if not DISPUTE_TRANSITIONS.allows(dispute.status, to):
        raise Conflict(
            "invalid_transition",
            f"Dispute {dispute.stripe_id} cannot go from {dispute.status} to {to}.",
            details={"status": dispute.status, "to": to},
        )
    if to in DISPUTE_CLOSED:
        fields["closed_at"] = at
    if "currency" in fields:  # the amount's currency field: set before the amount
        dispute.currency = fields.pop("currency")
    for name, value in fields.items():
        setattr(dispute, name, value)
    dispute.status = to
    dispute.last_event_at = at
    dispute.save()
    if to in DISPUTE_CLOSED:  # a closed dispute never reopens: one event per dispute
        emit("dispute.closed", dispute_event(dispute), key=f"dispute.closed:{dispute.pk}")
    return dispute


def _post_outcomes(dispute: Dispute, *, withdrawn: bool) -> None:
    amount, fee = amount_of(dispute.amount), dispute_fee(dispute.currency)
    held = amount + fee
    links: dict[str, Any] = {
        "dispute": dispute,
        "invoice_id": dispute.invoice_id,
        "customer_id": dispute.customer_id,
    }
    currency = dispute.currency
    final = dispute.status in (DisputeStatus.WON, DisputeStatus.LOST)
    if withdrawn or final:
        ledger_post(
            key=f"dispute:{dispute.pk}:withdrawn",
            memo=f"{dispute.stripe_id} withdrawn",
            lines=[(LedgerAccount.DISPUTED, held), (LedgerAccount.CASH, -held)],
            currency=currency,
            **links,
        )
        if not dispute.funds_withdrawn:
            Dispute.objects.filter(pk=dispute.pk).update(
                funds_withdrawn=True, updated_at=timezone.now()
            )
            dispute.funds_withdrawn = True
    if dispute.status == DisputeStatus.WON:
        ledger_post(
            key=f"dispute:{dispute.pk}:won",
            memo=f"{dispute.stripe_id} won: reinstated",
            lines=[(LedgerAccount.CASH, held), (LedgerAccount.DISPUTED, -held)],
            currency=currency,
            **links,
        )
    elif dispute.status == DisputeStatus.LOST:
        ledger_post(
            key=f"dispute:{dispute.pk}:lost",
            memo=f"{dispute.stripe_id} lost: written off",
            lines=[
                (LedgerAccount.DISPUTE_WRITEOFF, amount),
                (LedgerAccount.DISPUTE_FEES, fee),
                (LedgerAccount.DISPUTED, -held),
            ],
            currency=currency,
            **links,
        )


def on_dispute_event(event: StripeEvent) -> None:
    """Every ``charge.dispute.*`` event (created, updated, closed, funds_withdrawn,
    funds_reinstated); inquiries arrive as the same events with ``warning_*`` statuses."""
    if event.object_type not in (None, "dispute"):
        return
    dispute_apply_stripe(
        event.data_object, at=datetime.fromtimestamp(event.created, tz=UTC), event_type=event.type
    )


def _require_worker(actor: User) -> None:
    if not actor.has_perm(WORK_PERMISSION):  # type: ignore[attr-defined]
        raise AppError("permission_denied", "You may not work disputes.", status_code=403)


@transaction.atomic
def dispute_assign(*, dispute: Dispute, assignee: User | None, actor: User) -> Dispute:
    _require_worker(actor)
    locked = Dispute.objects.select_for_update().get(pk=dispute.pk)
    locked.assignee = assignee  # type: ignore[assignment]
    locked.reminded_72h_at = locked.reminded_24h_at = None  # a new assignee gets reminders
    locked._history_user = actor  # type: ignore[attr-defined]  # audit: who assigned
    locked.save(update_fields=["assignee", "reminded_72h_at", "reminded_24h_at", "updated_at"])
    return locked


@transaction.atomic
def dispute_note_add(*, dispute: Dispute, body: str, actor: User) -> DisputeNote:
    _require_worker(actor)
    if not body.strip():
        raise AppError("validation_error", "The note is empty.")
    return DisputeNote.objects.create(dispute=dispute, author=actor, body=body.strip())


@transaction.atomic
def dispute_evidence_save(
    *, dispute: Dispute, evidence: dict[str, str], submit: bool, actor: User
) -> DisputeEvidenceSubmission:
    """Store the evidence and queue it for Stripe: a draft (``submit=False``) or the final
    submission (once; Stripe then closes the evidence for edits)."""
    from invoicing.stripe.gateway import EVIDENCE_FIELDS

    _require_worker(actor)
    locked = Dispute.objects.select_for_update().get(pk=dispute.pk)
    unknown = set(evidence) - set(EVIDENCE_FIELDS)
    if unknown:
        raise AppError(
            "validation_error", "Unknown evidence fields.", details={"fields": sorted(unknown)}
        )
    if locked.evidence_submitted_at is not None:
        raise Conflict("evidence_submitted", "The evidence was already submitted to Stripe.")
    if locked.status in DISPUTE_CLOSED:
        raise Conflict("dispute_closed", f"The dispute is {locked.status}: nothing to submit.")
    clean = {k: v.strip() for k, v in evidence.items() if isinstance(v, str) and v.strip()}
    submission = DisputeEvidenceSubmission.objects.create(
        dispute=locked,
        actor=actor,
        evidence=clean,
        submit=submit,
        outbox_key=f"dispute:{locked.pk}:evidence:pending:{timezone.now().timestamp()}",
    )
    key = f"dispute:{locked.pk}:evidence:{submission.pk}"
    DisputeEvidenceSubmission.objects.filter(pk=submission.pk).update(outbox_key=key)
    locked.evidence = clean
    if submit:
        locked.evidence_submitted_at = timezone.now()
    locked.save(update_fields=["evidence", "evidence_submitted_at", "updated_at"])
    outbox_enqueue(EVIDENCE_TOPIC, key, {"dispute_id": locked.pk, "submission_id": submission.pk})
    submission.refresh_from_db()
    return submission


def dispute_evidence_send(message: Any) -> dict[str, Any]:
    """Outbox handler: send one saved evidence version (key = the outbox key). The invoice PDF
    goes along as the ``receipt`` file unless the agent cited another one; the upload's key
    derives from the message key, so a resend uploads nothing new."""
    from invoicing.stripe.gateway import default_gateway

    submission = DisputeEvidenceSubmission.objects.select_related("dispute__invoice").get(
        pk=message.payload["submission_id"]
    )
    gateway = default_gateway()
    evidence = dict(submission.evidence)
    invoice = submission.dispute.invoice
    if invoice is not None and invoice.number and "receipt" not in evidence:
        from invoicing.services.invoice_pdfs import invoice_pdf_content

        uploaded = gateway.file_create(
            invoice_pdf_content(invoice),  # rendered and stored first if it is not yet
            filename=f"{invoice.number}.pdf",
            idempotency_key=f"{message.key}:receipt",
        )
        evidence["receipt"] = str(uploaded.id)
    answer = gateway.dispute_update(
        submission.dispute.stripe_id,
        evidence=evidence,
        submit=submission.submit,
        idempotency_key=message.key,
        metadata={"tally_dispute_id": str(submission.dispute_id)},
    )
    return {"status": str(getattr(answer, "status", "")), "receipt": evidence.get("receipt")}


def register() -> None:
    from billingsite.outbox.registry import register_outbox_handler
    from invoicing.stripe.events import handlers

    register_outbox_handler(EVIDENCE_TOPIC, dispute_evidence_send)
    handlers.register("charge.dispute.*", on_dispute_event)
