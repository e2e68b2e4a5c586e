"""Credit notes: credit lines of an issued invoice (full or partial), with a reason, audited.

Invariants: a note credits only positive lines of a finalized, paid or uncollectible invoice;
no line is ever credited beyond its amount, and no invoice beyond its total (checked under a
row lock on the invoice, so concurrent notes cannot both pass); amounts have the currency's
places; the note is numbered gaplessly in the ``CN`` series in the same transaction.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from billingsite.errors import AppError, Conflict
from billingsite.events import emit
from billingsite.money import amount_of, is_rounded
from invoicing.event_payloads import credit_note_event
from invoicing.models import (
    CreditNote,
    CreditNoteLine,
    CreditNoteOutcome,
    GrantKind,
    Invoice,
    InvoiceLine,
)
from invoicing.services.invoices import number_allocate
from invoicing.states import InvoiceStatus

CREDITABLE = (
    InvoiceStatus.FINALIZED,
    InvoiceStatus.PAST_DUE,
    InvoiceStatus.PAID,
    InvoiceStatus.UNCOLLECTIBLE,
)
ZERO = Decimal(0)
CREDIT_NOTE_SERIES = "CN"


def credited_by_line(invoice: Invoice) -> dict[int, Decimal]:
    rows = (
        CreditNoteLine.objects.filter(credit_note__invoice=invoice)
        .values("invoice_line_id")
        .annotate(total=Sum("amount"))
    )
    return {row["invoice_line_id"]: row["total"] for row in rows}


@transaction.atomic
def credit_note_create(
    *,
    invoice: Invoice,
    reason: str,
    outcome: str,
    lines: dict[int, Decimal] | None = None,
    actor: User | None = None,
) -> CreditNote:
    """Credit ``lines`` ({invoice line id: amount}) or, when None, everything still creditable.

    ``reduce_amount_due`` needs an unpaid invoice, ``refund`` a paid one; ``customer_credit``
    turns the note into a paid credit grant for the customer."""
    locked = Invoice.objects.select_for_update().select_related("customer").get(pk=invoice.pk)
    _check_allowed(locked, reason, outcome)
    already = credited_by_line(locked)
    positive = {line.pk: line for line in locked.lines.filter(amount__gt=0)}
    wanted = (
        lines
        if lines is not None
        else {pk: amount_of(line.amount) - already.get(pk, ZERO) for pk, line in positive.items()}
    )
    wanted = {pk: Decimal(amount) for pk, amount in wanted.items() if Decimal(amount) != 0}
    problems = _line_problems(locked.currency, positive, already, wanted)
    total = sum(wanted.values(), ZERO)
    credited_total = sum(already.values(), ZERO)
    if total + credited_total > amount_of(locked.total):
        problems["total"] = (
            f"{total} would credit more than the invoice's remaining "
            f"{amount_of(locked.total) - credited_total}."
        )
    if problems or total <= 0:
        raise AppError(
            "invalid_credit_note",
            "The credit note is not valid.",
            details=problems or {"lines": "Nothing left to credit."},
        )
    note = CreditNote.objects.create(
        invoice=locked,
        number=number_allocate(CREDIT_NOTE_SERIES),
        reason=reason.strip(),
        outcome=outcome,
        currency=locked.currency,
        total=total,
        created_by=actor,
        credit_grant=_grant_for(locked, total, actor) if outcome == "customer_credit" else None,
    )
    CreditNoteLine.objects.bulk_create(
        [
            CreditNoteLine(
                credit_note=note,
                invoice_line_id=pk,
                currency=locked.currency,
                amount=amount,
                description=positive[pk].description[:300],
            )
            for pk, amount in wanted.items()
        ]
    )
    emit("credit_note.created", credit_note_event(note), key=f"credit_note.created:{note.pk}")
    return note


def _check_allowed(invoice: Invoice, reason: str, outcome: str) -> None:
    if not reason.strip():
        raise AppError(
            "reason_required", "Say why the credit note is issued.", details={"reason": "required"}
        )
    if outcome not in CreditNoteOutcome.values:
        raise AppError(
            "invalid_credit_note",
            f"Unknown outcome {outcome!r}.",
            details={"outcome": ", ".join(CreditNoteOutcome.values)},
        )
    if invoice.status not in CREDITABLE:
        raise Conflict(
            "not_creditable",
            f"Invoice {invoice} is {invoice.status}: only issued "
            "invoices get credit notes (void a draft or an unpaid invoice instead).",
        )
    if outcome == CreditNoteOutcome.REDUCE_AMOUNT_DUE and invoice.status == InvoiceStatus.PAID:
        raise Conflict("already_paid", "A paid invoice's credit note refunds or credits.")
    if outcome == CreditNoteOutcome.REFUND and invoice.status != InvoiceStatus.PAID:
        raise Conflict("not_paid", "Only a paid invoice can feed a refund.")


def _line_problems(
    currency: str,
    positive: dict[int, InvoiceLine],
    already: dict[int, Decimal],
    wanted: dict[int, Decimal],
) -> dict[str, str]:
    problems: dict[str, str] = {}
    for pk, amount in wanted.items():
        field = f"lines.{pk}"
        if pk not in positive:
            problems[field] = "Not a positive line of this invoice."
        elif amount < 0 or not is_rounded(amount, currency):
            problems[field] = f"Must be a positive amount in {currency}'s minor units."
        elif amount > amount_of(positive[pk].amount) - already.get(pk, ZERO):
            left = amount_of(positive[pk].amount) - already.get(pk, ZERO)
            problems[field] = f"Only {left} of this line is left to credit."
    return problems


def _grant_for(invoice: Invoice, total: Decimal, actor: User | None):  # type: ignore[no-untyped-def]
    from invoicing.services.credits import credit_grant_create

    return credit_grant_create(
        customer=invoice.customer,
        kind=GrantKind.PAID,
        amount=total,
        currency=invoice.currency,
        effective_at=timezone.now(),
        contract=invoice.contract,
        actor=actor,
        note=f"Credit note on invoice {invoice.number}",
    )


def invoice_amount_due(invoice: Invoice) -> Decimal:
    """What the customer still owes: nothing once paid or void, else the total minus notes
    that reduce the amount due."""
    if invoice.status not in (
        InvoiceStatus.FINALIZED,
        InvoiceStatus.PAST_DUE,
        InvoiceStatus.UNCOLLECTIBLE,
    ):
        return ZERO
    reduced = (
        CreditNote.objects.filter(
            invoice=invoice, outcome=CreditNoteOutcome.REDUCE_AMOUNT_DUE
        ).aggregate(s=Sum("total"))["s"]
        or ZERO
    )
    return amount_of(invoice.total) - reduced
