"""Posting rule for a voided invoice (docs/revenue-recognition.md).

A void after finalization takes back everything the invoice put in the journal, on the void's
book day, so its deferred and recognized revenue both end at zero:

- every schedule row of the invoice (its lines' rows and the draws it made on funded grants)
  still to come after the void day is cancelled by a negative row on the same date (the pair
  posts to nothing);
- what was recognized by the void day (posted or merely due, so the result does not depend on
  when the daily job ran) is reversed: debit revenue (or breakage) per charge key, with a
  negative row recorded against the schedule, as a credit note does;
- the deferred revenue left on each of the invoice's lines (less what is due and not yet
  posted) is debited, and a draw on a funded grant gives that grant its deferred balance back;
- the other side is receivable: what the invoice still owed (its total less its credit notes).

Posted once per invoice (source key ``invoice_void:<id>``), after the invoice's own entry.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum

from invoicing.models import Invoice, LineKind
from invoicing.states import InvoiceStatus
from revenue.models import Account, JournalEntry, RecognitionSchedule, SourceType
from revenue.services.journal import Leg, book_date, entry_post
from revenue.services.posting import deferred_balance, post_credit_note, post_invoice
from revenue.services.schedules import Plan, Subject

ZERO = Decimal(0)
Group = tuple[Subject, str, str]  # (subject, account, charge key)


def invoice_void_key(invoice_id: int) -> str:
    return f"invoice_void:{invoice_id}"


def _rows(invoice: Invoice, line_ids: set[int]) -> list[RecognitionSchedule]:
    own = Q(invoice_line_id__in=line_ids) | Q(origin=f"invoice:{invoice.pk}")
    return list(RecognitionSchedule.objects.select_for_update().filter(own).order_by("pk"))


def _split(
    rows: list[RecognitionSchedule], plan: Plan, day: date, key: str
) -> tuple[dict[Group, Decimal], dict[int, Decimal]]:
    """Cancel future unposted rows; return what is recognized by ``day`` per group and what is
    due but unposted per own line."""
    recognized: dict[Group, Decimal] = defaultdict(Decimal)
    due_unposted: dict[int, Decimal] = defaultdict(Decimal)
    for row in rows:
        subject = Subject(row.invoice_line_id, row.credit_grant_id)
        amount = Decimal(row.amount)
        if row.on_date > day and row.journal_entry_id is None:
            plan.add(
                subject,
                row.customer_id,
                row.currency,
                on_date=row.on_date,
                amount=-amount,
                account=row.account,
                charge_key=row.charge_key,
                origin=key,
            )
            continue
        recognized[(subject, row.account, row.charge_key)] += amount
        if row.journal_entry_id is None and row.invoice_line_id is not None:
            due_unposted[row.invoice_line_id] += amount
    return recognized, due_unposted


def _legs(
    invoice: Invoice,
    line_ids: set[int],
    recognized: dict[Group, Decimal],
    due_unposted: dict[int, Decimal],
) -> list[Leg]:
    customer_id = invoice.customer_id
    legs: list[Leg] = []
    for (subject, account, charge_key), amount in recognized.items():
        tags = (subject.invoice_line_id, subject.credit_grant_id)
        legs.append(Leg(account, amount, customer_id, charge_key, *tags))
        if subject.invoice_line_id not in line_ids:  # a draw on a funded grant: give it back
            legs.append(Leg(Account.DEFERRED_REVENUE, -amount, customer_id, charge_key, *tags))
    for line in invoice.lines.order_by("position"):
        left = deferred_balance(invoice_line=line) - due_unposted.get(line.pk, ZERO)
        legs.append(Leg(Account.DEFERRED_REVENUE, left, customer_id, line.charge_key, line.pk))
        if line.kind == LineKind.TAX:  # the tax is no longer owed
            owed_tax = deferred_balance(Account.TAX_PAYABLE, invoice_line=line)
            legs.append(Leg(Account.TAX_PAYABLE, owed_tax, customer_id, line.charge_key, line.pk))
    owed = sum((leg.amount for leg in legs), ZERO)
    legs.append(Leg(Account.RECEIVABLE, -owed, customer_id))
    return legs


@transaction.atomic
def post_invoice_void(invoice: Invoice) -> JournalEntry | None:
    """Reverse a voided invoice once (see the module doc); a never-issued invoice posts
    nothing, and its own entry is posted first if the job had not yet."""
    if invoice.status != InvoiceStatus.VOID or invoice.issued_at is None:
        return None
    if post_invoice(invoice) is None:
        return None
    for note in invoice.credit_notes.order_by("created_at", "pk"):
        post_credit_note(note)  # what they took back is not the void's to reverse again
    key = invoice_void_key(invoice.pk)
    if JournalEntry.objects.filter(source_key=key).exists():
        return JournalEntry.objects.get(source_key=key)
    day = book_date(invoice.voided_at or invoice.updated_at)
    line_ids = set(invoice.lines.values_list("pk", flat=True))
    plan = Plan()
    recognized, due_unposted = _split(_rows(invoice, line_ids), plan, day, key)
    entry, created = entry_post(
        key=key,
        source_type=SourceType.INVOICE_VOID,
        source_id=invoice.pk,
        on=day,
        currency=invoice.currency,
        legs=_legs(invoice, line_ids, recognized, due_unposted),
        memo=f"Invoice {invoice.number} voided",
    )
    if not created:
        return entry
    for (subject, account, charge_key), amount in recognized.items():
        plan.add(
            subject,
            invoice.customer_id,
            invoice.currency,
            on_date=day,
            amount=-amount,
            account=account,
            charge_key=charge_key,
            origin=key,
            journal_entry=entry,
        )
    RecognitionSchedule.objects.bulk_create(plan.rows)
    return entry


def voided_total(invoice_ids: list[int]) -> Decimal:
    """What the void entries of these invoices took off receivable (for the close's tie)."""
    return (
        JournalEntry.objects.filter(
            source_type=SourceType.INVOICE_VOID, source_id__in=invoice_ids
        ).aggregate(t=Sum("lines__credit", filter=Q(lines__account=Account.RECEIVABLE)))["t"]
        or ZERO
    )
