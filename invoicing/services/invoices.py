"""Invoice lifecycle: draft, refresh, finalize (number, frozen lines), pay, void, re-issue.

Invariants:
- one draft per (contract, period, kind): the INSERT relies on the unique constraint, and a
  conflicting concurrent insert just means the other run created it;
- a draft's lines are rewritten only when the computation changed, so re-running changes
  nothing; the total is always the sum of the rounded lines;
- finalization locks the invoice, then the credit grants (pk order), recomputes with exactly
  the code the previews use, writes the credit draw-downs, takes the next number of its series
  with ``UPDATE ... RETURNING`` (rolled back with the transaction, so numbers are gapless)
  and flips the status with a conditional UPDATE; the PDF is rendered after the commit and
  stored once (``services.invoice_pdfs``);
- status changes follow ``invoicing.states.TRANSITIONS`` and write an ``InvoiceTransition``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from billingsite.errors import AppError, Conflict
from billingsite.outbox.services import outbox_enqueue
from invoicing.event_payloads import invoice_announce
from invoicing.metrics import INVOICES_FINALIZED
from invoicing.models import Contract, Invoice, InvoiceKind, InvoiceTransition
from invoicing.periods import Period
from invoicing.selectors.computation import InvoiceComputation
from invoicing.selectors.invoices import (
    compute_for_period,
    contract_period,
    contracts_with_terms,
)
from invoicing.services.billing_drafts import draft_prepare, draft_write
from invoicing.services.invoice_lines import draft_lines_store
from invoicing.services.numbering import number_allocate
from invoicing.states import InvoiceStatus, can_transition, sources_of
from invoicing.stripe.topics import (
    INVOICE_PUSH_TOPIC,
    INVOICE_VOID_TOPIC,
    invoice_push_key,
    invoice_void_key,
)
from invoicing.usage import UsageSource, default_usage


def invoice_draft_create(
    *,
    contract: Contract,
    period: Period,
    usage: UsageSource | None = None,
    now: datetime,
    with_credits: bool = True,
    with_billed: bool = True,
) -> Invoice | None:
    """Create the period's billing-run draft with its lines, or None when it exists already.

    The unique constraint decides: a concurrent run that inserted first makes our INSERT fail,
    and we leave its draft alone. ``with_credits``/``with_billed`` False skip reads the caller
    knows are empty (no grants, no issued invoice); a draft is refreshed and finalized with
    the full computation anyway. (The billing run writes a chunk's drafts together:
    ``services.billing_drafts``.)"""
    draft = draft_prepare(
        contract=contract,
        period=period,
        usage=usage or default_usage(),
        now=now,
        with_credits=with_credits,
        with_billed=with_billed,
    )
    return draft_write(draft)


def _lock_draft(invoice_id: int, *, wait: bool) -> Invoice | None:
    qs = Invoice.objects.select_for_update(skip_locked=not wait)
    return qs.filter(pk=invoice_id, status=InvoiceStatus.DRAFT).first()


def _lock_draft_and_contract(invoice_id: int, *, wait: bool) -> tuple[Invoice, datetime] | None:
    """The draft (skipped if another finalizer holds it, unless ``wait``) and its contract
    (always waited for: an amendment, or a finalization of the contract's other period a
    concurrent run took, commits soon) locked in one statement: (draft, contract's
    ``updated_at``)."""
    skip = "" if wait else " SKIP LOCKED"
    rows = list(
        Invoice.objects.raw(
            "SELECT i.*, c.updated_at AS contract_updated_at FROM invoicing_invoice i"  # noqa: S608
            " JOIN invoicing_contract c ON c.id = i.contract_id"
            " WHERE i.id = %s AND i.status = %s"
            f" FOR UPDATE OF i{skip} FOR UPDATE OF c",
            [invoice_id, InvoiceStatus.DRAFT],
        )
    )
    if not rows:
        return None
    return rows[0], rows[0].contract_updated_at  # type: ignore[attr-defined]


def _terms_for(invoice: Invoice, contract: Contract | None) -> Contract:
    if contract is not None and contract.pk == invoice.contract_id:
        return contract
    return contracts_with_terms().get(pk=invoice.contract_id)


@transaction.atomic
def invoice_refresh(
    *,
    invoice_id: int,
    usage: UsageSource | None = None,
    now: datetime,
    wait: bool = False,
    contract: Contract | None = None,
) -> bool:
    """Recompute a draft with the latest usage. No-op (False) for a non-draft or a draft
    another worker holds, or when nothing changed. ``contract`` may be passed with its terms
    prefetched (the billing run does)."""
    usage = usage or default_usage()
    invoice = _lock_draft(invoice_id, wait=wait)
    if invoice is None:
        return False
    contract = _terms_for(invoice, contract)
    computation = compute_for_period(
        contract,
        contract_period(contract, invoice.period_start),
        usage=usage,
        exclude_invoice_id=invoice.pk,
    )
    return draft_lines_store(invoice, computation, now)


@transaction.atomic
def invoice_finalize(
    *,
    invoice_id: int,
    usage: UsageSource | None = None,
    now: datetime,
    actor: User | None = None,
    wait: bool = False,
    contract: Contract | None = None,
    with_credits: bool = True,
    with_billed: bool = True,
) -> Invoice | None:
    """Freeze a draft: final lines, credit draw-downs, gapless number. Idempotent: a
    non-draft (or a draft locked by a concurrent finalizer) is left alone and None returned.

    The invoice and its contract are locked in one statement, so no amendment can commit
    meanwhile; a prefetched ``contract`` is used only if its ``updated_at`` (bumped by every
    amendment) is current. ``with_credits``/
    ``with_billed`` False skip reading grants / issued invoices the caller knows the customer
    does not have (the billing run reads that for a chunk at once). The series counter is
    taken last: its row lock serializes finalizations of a series, so only the final UPDATE
    and the records of the change happen while it is held (the PDF is rendered after the
    commit, ``services.invoice_pdfs``)."""
    locked = _lock_draft_and_contract(invoice_id, wait=wait)
    if locked is None:
        return None
    invoice, contract_updated_at = locked
    contract, computation = finalize_compute(
        invoice,
        contract if contract is not None and contract.updated_at == contract_updated_at else None,
        usage=usage or default_usage(),
        now=now,
        with_credits=with_credits,
        with_billed=with_billed,
    )
    _issue(invoice, contract, computation, now, actor)
    # outbox row: pushed to Stripe iff this commits (handler: invoicing.stripe.invoice_push)
    outbox_enqueue(INVOICE_PUSH_TOPIC, invoice_push_key(invoice.pk), {"invoice_id": invoice.pk})
    invoice_announce("invoice.finalized", invoice)
    transaction.on_commit(INVOICES_FINALIZED.inc)
    return invoice


def finalize_compute(
    invoice: Invoice,
    contract: Contract | None,
    *,
    usage: UsageSource,
    now: datetime,
    with_credits: bool,
    with_billed: bool,
    stored: list[tuple[Any, ...]] | None = None,
) -> tuple[Contract, InvoiceComputation]:
    """Everything a locked draft's finalization does before its number: the final computation
    (the grants locked), the lines rewritten if it changed, the credit draw-downs written.
    ``contract`` is a current prefetched contract or None; ``stored`` its lines if read."""
    from invoicing.services.credits import credit_draw

    contract = _terms_for(invoice, contract)
    computation = compute_for_period(
        contract,
        contract_period(contract, invoice.period_start),
        usage=usage,
        lock_credits=True,
        exclude_invoice_id=invoice.pk,
        with_credits=with_credits,
        with_billed=with_billed,
    )
    draft_lines_store(invoice, computation, now, stored)
    draws = [
        (line.credit_grant_id, -line.amount)
        for line in computation.lines
        if line.credit_grant_id is not None
    ]
    if draws:
        credit_draw(invoice=invoice, draws=draws)
    return contract, computation


def _issue(
    invoice: Invoice,
    contract: Contract,
    computation: InvoiceComputation,
    now: datetime,
    actor: User | None,
) -> None:
    """Number and flip the status (recorded like every transition): the part that holds the
    series counter's lock. The PDF is rendered after the commit (``services.invoice_pdfs``)."""
    invoice.customer = contract.customer
    invoice.contract = contract
    invoice.number = number_allocate(invoice.series)
    invoice.issued_at = now
    invoice.due_at = now + timedelta(days=contract.net_days)
    invoice.status = InvoiceStatus.FINALIZED
    invoice.total = computation.total
    # The draft's row lock is held, so its status is known: no read, and the instance already
    # carries every new value, so no refresh either; the caller's transaction is the one this
    # belongs to, so no savepoint either.
    invoice_transition(
        invoice=invoice,
        to=InvoiceStatus.FINALIZED,
        actor=actor,
        reason="finalized",
        known_status=InvoiceStatus.DRAFT,
        refresh=False,
        savepoint=False,
        number=invoice.number,
        issued_at=invoice.issued_at,
        due_at=invoice.due_at,
        total=invoice.total,
        updated_at=now,
    )


ANNOUNCED: dict[str, str] = {
    InvoiceStatus.PAID: "invoice.paid",
    InvoiceStatus.VOID: "invoice.voided",
}


def invoice_transition(
    *,
    invoice: Invoice,
    to: str,
    actor: User | None = None,
    reason: str = "",
    known_status: str | None = None,
    refresh: bool = True,
    savepoint: bool = True,
    **fields: Any,
) -> Invoice:
    """Move ``invoice`` to status ``to`` if the map allows it from its current status, and record
    the move (the one place an invoice's status changes and ``InvoiceTransition`` rows are made,
    besides the creation record of a re-issue and its batch form for the billing run,
    ``billing_finalize.invoices_transition``).

    One conditional UPDATE decides; a concurrent change makes it fail with ``Conflict``. A caller
    holding the row lock may pass ``known_status`` (saves the read) and ``refresh=False`` when
    the instance already carries ``fields``, and ``savepoint=False`` when a failure here fails
    its whole transaction anyway (saves two round trips)."""
    with transaction.atomic(savepoint=savepoint):
        current = known_status or (
            Invoice.objects.filter(pk=invoice.pk).values_list("status", flat=True).first()
        )
        if current is None or not can_transition(current, to):
            raise Conflict(
                "invalid_transition",
                f"Invoice {invoice} cannot go from {current} to {to}.",
                details={"status": current, "to": to},
            )
        updated = Invoice.objects.filter(
            pk=invoice.pk, status=current, status__in=sources_of(to)
        ).update(status=to, **{"updated_at": timezone.now(), **fields})  # exports read it
        if updated != 1:
            raise Conflict("invalid_transition", f"Invoice {invoice} changed status meanwhile.")
        InvoiceTransition.objects.create(
            invoice=invoice, from_status=current, to_status=to, actor=actor, reason=reason
        )
        if refresh:
            invoice.refresh_from_db()
        else:
            invoice.status = to
        if to in ANNOUNCED:  # paid and void are final: one event per invoice
            invoice_announce(ANNOUNCED[to], invoice)
    return invoice


@transaction.atomic
def invoice_void(
    *, invoice: Invoice, reason: str, now: datetime, actor: User | None = None
) -> Invoice:
    """Void a draft or an unpaid issued invoice (reason required); its credits come back."""
    from invoicing.services.credits import credit_reverse_for_invoice

    if not reason.strip():
        raise AppError(
            "reason_required", "Say why the invoice is voided.", details={"reason": "required"}
        )
    invoice = invoice_transition(
        invoice=invoice,
        to=InvoiceStatus.VOID,
        actor=actor,
        reason=reason,
        voided_at=now,
        void_reason=reason,
    )
    credit_reverse_for_invoice(invoice=invoice, actor=actor)
    if invoice.number:  # only an issued invoice can be on Stripe; voided there iff this commits
        outbox_enqueue(INVOICE_VOID_TOPIC, invoice_void_key(invoice.pk), {"invoice_id": invoice.pk})
    return invoice


@transaction.atomic
def invoice_mark_paid(*, invoice: Invoice, now: datetime, actor: User | None = None) -> Invoice:
    return invoice_transition(
        invoice=invoice, to=InvoiceStatus.PAID, actor=actor, reason="paid", paid_at=now
    )


@transaction.atomic
def invoice_reissue(
    *, invoice: Invoice, now: datetime, actor: User | None = None, reason: str = ""
) -> Invoice:
    """A new draft for the period of a voided invoice, ready to finalize at once, recorded with
    whom it replaces, who asked and why."""
    if invoice.status != InvoiceStatus.VOID:
        raise Conflict("not_void", "Only a voided invoice can be re-issued.")
    if Invoice.objects.filter(replaces=invoice).exists():
        raise Conflict("already_reissued", f"Invoice {invoice} was re-issued already.")
    try:
        with transaction.atomic():
            replacement = Invoice.objects.create(
                customer=invoice.customer,
                contract=invoice.contract,
                kind=InvoiceKind.REISSUE,
                replaces=invoice,
                series=invoice.series,
                currency=invoice.currency,
                period_start=invoice.period_start,
                period_end=invoice.period_end,
                finalize_after=now,
            )
            invoice_announce("invoice.drafted", replacement)
    except IntegrityError as exc:
        raise Conflict("already_reissued", f"Invoice {invoice} was re-issued already.") from exc
    why = invoice.void_reason.strip()
    InvoiceTransition.objects.create(
        invoice=replacement,
        from_status=InvoiceStatus.DRAFT,
        to_status=InvoiceStatus.DRAFT,
        actor=actor,
        reason=reason or f"Re-issue of {invoice}" + (f" (voided: {why})" if why else ""),
    )
    return replacement
