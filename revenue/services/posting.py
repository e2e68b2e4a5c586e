"""Posting rules for invoices and credit notes (docs/revenue-recognition.md).

An invoice, when finalized: debit receivable with its total, credit deferred revenue with each
line (a negative line debits it), tagged with the line; and write its recognition schedule.
A credit note takes back, line by line, first what is not yet recognized on its date (the
latest future schedule rows first, by negative rows on the same dates) and reverses the rest
from revenue on its own date; rows due by then count as recognized, posted or not, so the
result does not depend on when the daily job ran. The other side is receivable (amount due
reduced), refunds payable (a refund will pay it out) or the new grant's deferred balance
(customer credit). Each posting runs once per source key and in one transaction with its
schedule rows.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from billingsite.money import amount_of
from invoicing.models import CreditNote, CreditNoteOutcome, Invoice, InvoiceLine, LineKind
from invoicing.states import InvoiceStatus
from revenue.models import Account, JournalEntry, JournalLine, RecognitionSchedule, SourceType
from revenue.services.journal import Leg, book_date, entry_post
from revenue.services.schedules import (
    Plan,
    Subject,
    charge_key_of,
    commit_grant_id,
    invoice_plan,
    line_amount,
)

ZERO = Decimal(0)
ISSUED = (
    InvoiceStatus.FINALIZED,
    InvoiceStatus.PAID,
    InvoiceStatus.UNCOLLECTIBLE,
    InvoiceStatus.VOID,
)
_CN_COUNTER_ACCOUNT = {
    CreditNoteOutcome.REDUCE_AMOUNT_DUE: Account.RECEIVABLE,
    CreditNoteOutcome.REFUND: Account.REFUNDS,
    CreditNoteOutcome.CUSTOMER_CREDIT: Account.DEFERRED_REVENUE,
}


def invoice_key(invoice_id: int) -> str:
    return f"invoice:{invoice_id}"


def credit_note_key(note_id: int) -> str:
    return f"credit_note:{note_id}"


@transaction.atomic
def post_invoice(invoice: Invoice) -> JournalEntry | None:
    """Post a finalized invoice once: receivable = sum of deferred revenue by line; writes the
    lines' schedules (which sum to each line). A draft (or never-issued invoice) is skipped."""
    if invoice.issued_at is None or invoice.status not in ISSUED:
        return None
    currency, customer_id = invoice.currency, invoice.customer_id
    legs = [Leg(Account.RECEIVABLE, amount_of(invoice.total), customer_id)]
    for line in invoice.lines.order_by("position"):
        legs.append(
            Leg(
                _line_account(line),
                -line_amount(line),
                customer_id,
                charge_key_of(line),
                line.pk,
                commit_grant_id(line) if line.kind == LineKind.COMMIT else None,
            )
        )
    day = book_date(invoice.issued_at)
    entry, created = entry_post(
        key=invoice_key(invoice.pk),
        source_type=SourceType.INVOICE,
        source_id=invoice.pk,
        on=day,
        currency=currency,
        legs=legs,
        memo=f"Invoice {invoice.number} finalized",
    )
    if created:
        RecognitionSchedule.objects.bulk_create(invoice_plan(invoice, day).rows)
    return entry


def _line_account(line: InvoiceLine) -> str:
    """Where a line's amount waits: tax collected is owed to the tax authority, never revenue;
    everything else is deferred revenue until its schedule recognizes it."""
    return Account.TAX_PAYABLE if line.kind == LineKind.TAX else Account.DEFERRED_REVENUE


def deferred_balance(account: str = Account.DEFERRED_REVENUE, **tags: object) -> Decimal:
    """Credit-normal balance of deferred revenue (or ``account``) for the given tags (line or
    grant)."""
    sums = JournalLine.objects.filter(account=account, **tags).aggregate(
        debit=Sum("debit"), credit=Sum("credit")
    )
    return (sums["credit"] or ZERO) - (sums["debit"] or ZERO)


def _take_unrecognized(
    plan: Plan, line: InvoiceLine, wanted: Decimal, origin: str, day: date
) -> Decimal:
    """Negative rows against the line's rows after ``day``, latest first; returns the total."""
    taken = ZERO
    rows = (
        RecognitionSchedule.objects.select_for_update()
        .filter(invoice_line=line, journal_entry__isnull=True, on_date__gt=day)
        .order_by("-on_date", "-pk")
    )
    open_by_key: dict[tuple[date, str, str], Decimal] = {}
    for row in rows:
        key = (row.on_date, row.account, row.charge_key)
        open_by_key[key] = open_by_key.get(key, ZERO) + Decimal(row.amount)
    for (row_day, account, charge_key), open_amount in open_by_key.items():
        part = min(open_amount, wanted - taken)
        if part <= 0:
            continue
        plan.add(
            Subject(line.pk),
            line.invoice.customer_id,
            line.currency,
            on_date=row_day,
            amount=-part,
            account=account,
            charge_key=charge_key,
            origin=origin,
        )
        taken += part
    return taken


Reversal = tuple[InvoiceLine, Subject, Decimal]


def _credit_legs(
    note: CreditNote, plan: Plan, key: str, day: date
) -> tuple[list[Leg], list[Reversal]]:
    """The debit side of a credit note, line by line: deferred first, then revenue."""
    customer_id, legs, reversals = note.invoice.customer_id, [], []
    for cn_line in note.lines.select_related("invoice_line__invoice"):
        line, credited = cn_line.invoice_line, amount_of(cn_line.amount)
        subject, charge_key = Subject(line.pk, commit_grant_id(line)), charge_key_of(line)
        if line.kind == LineKind.TAX:  # the tax credited is no longer owed
            legs.append(Leg(Account.TAX_PAYABLE, credited, customer_id, charge_key, line.pk))
            continue
        if line.kind == LineKind.COMMIT:
            deferred = min(credited, max(_commit_unused(line, day), ZERO))
        else:
            deferred = _take_unrecognized(plan, line, credited, key, day)
        tags = _tags(subject)
        legs.append(Leg(Account.DEFERRED_REVENUE, deferred, customer_id, charge_key, *tags))
        if credited - deferred:
            legs.append(Leg(Account.REVENUE, credited - deferred, customer_id, charge_key, *tags))
            reversals.append((line, subject, credited - deferred))
    return legs, reversals


@transaction.atomic
def post_credit_note(note: CreditNote) -> JournalEntry | None:
    """Post a credit note once, after its invoice (see the module doc for the rule)."""
    invoice = note.invoice
    post_invoice(invoice)
    key, day = credit_note_key(note.pk), book_date(note.created_at)
    if JournalEntry.objects.filter(source_key=key).exists():
        return JournalEntry.objects.get(source_key=key)
    plan = Plan()
    legs, reversals = _credit_legs(note, plan, key, day)
    outcome = CreditNoteOutcome(note.outcome)
    grant_id = note.credit_grant_id if outcome == CreditNoteOutcome.CUSTOMER_CREDIT else None
    counter = _CN_COUNTER_ACCOUNT[outcome]
    legs.append(Leg(counter, -amount_of(note.total), invoice.customer_id, "", None, grant_id))
    entry, created = entry_post(
        key=key,
        source_type=SourceType.CREDIT_NOTE,
        source_id=note.pk,
        on=day,
        currency=note.currency,
        legs=legs,
        memo=f"Credit note {note.number} on {invoice.number}",
    )
    if not created:  # a concurrent caller posted it while we waited for the row locks
        return entry
    for line, subject, amount in reversals:
        plan.add(
            subject,
            invoice.customer_id,
            note.currency,
            on_date=day,
            amount=-amount,
            account=Account.REVENUE,
            charge_key=charge_key_of(line),
            origin=key,
            journal_entry=entry,
        )
    RecognitionSchedule.objects.bulk_create(plan.rows)
    return entry


def _commit_unused(line: InvoiceLine, day: date) -> Decimal:
    """A prepaid commit's deferred balance on ``day``, counting draws due but not yet posted."""
    due = RecognitionSchedule.objects.filter(
        invoice_line=line, journal_entry__isnull=True, on_date__lte=day
    ).aggregate(total=Sum("amount"))["total"]
    return deferred_balance(invoice_line=line) - (due or ZERO)


def _tags(subject: Subject) -> tuple[int | None, int | None]:
    return subject.invoice_line_id, subject.credit_grant_id
