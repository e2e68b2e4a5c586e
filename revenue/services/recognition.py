"""Recognizing scheduled revenue, and the daily sweep that posts everything still unposted.

``post_recognition`` turns one due schedule row into its entry (debit deferred revenue, credit
revenue or breakage; a negative row the other way) and marks the row, under a row lock, once.
``post_pending`` finds work by querying the apps below (sources without an entry), so it needs
no event from them and a missed run is caught up by the next; every step is idempotent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import QuerySet

from disputes.models import Dispute, Refund
from disputes.states import DisputeStatus, RefundStatus
from invoicing.models import CreditEntry, CreditNote, Invoice, Payment
from invoicing.models.credits import CreditEntryKind
from invoicing.models.stripe import PaymentStatus
from invoicing.states import InvoiceStatus
from revenue.models import Account, JournalEntry, RecognitionSchedule, SourceType
from revenue.services.cash import post_dispute, post_grant_expiry, post_payment, post_refund
from revenue.services.journal import Leg, book_date, entry_post
from revenue.services.posting import ISSUED, post_credit_note, post_invoice
from revenue.services.voids import post_invoice_void

logger = logging.getLogger(__name__)


@dataclass
class PendingResult:
    entries: int = 0
    failed: list[str] = field(default_factory=list)


@transaction.atomic
def post_recognition(row_id: int) -> JournalEntry | None:
    """Recognize one schedule row (if still unposted): deferred revenue -> its account."""
    row = RecognitionSchedule.objects.select_for_update().filter(pk=row_id).first()
    if row is None or row.journal_entry_id is not None:
        return None
    amount = Decimal(row.amount)
    tags = (row.invoice_line_id, row.credit_grant_id)
    entry, _ = entry_post(
        key=f"recognition:{row.pk}",
        source_type=SourceType.RECOGNITION,
        source_id=row.pk,
        on=row.on_date,
        currency=row.currency,
        legs=[
            Leg(Account.DEFERRED_REVENUE, amount, row.customer_id, row.charge_key, *tags),
            Leg(row.account, -amount, row.customer_id, row.charge_key, *tags),
        ],
        memo=f"Recognized {row.charge_key} ({row.origin})",
    )
    RecognitionSchedule.objects.filter(pk=row.pk).update(journal_entry=entry)
    return entry


def _unposted(queryset: QuerySet, prefix: str) -> QuerySet:  # type: ignore[type-arg]
    keys = JournalEntry.objects.filter(source_key__startswith=prefix).values("source_id")
    return queryset.exclude(pk__in=keys)


def pending_sources(today: date) -> list[tuple[str, QuerySet]]:  # type: ignore[type-arg]
    """Every source that should have an entry and has none, in posting order."""
    return [
        (
            "invoice",
            _unposted(
                Invoice.objects.filter(status__in=ISSUED, issued_at__isnull=False), "invoice:"
            ).order_by("issued_at", "pk"),
        ),
        (
            "credit_note",
            _unposted(CreditNote.objects.all(), "credit_note:").order_by("created_at", "pk"),
        ),
        (
            "invoice_void",
            _unposted(
                Invoice.objects.filter(status=InvoiceStatus.VOID, issued_at__isnull=False),
                "invoice_void:",
            ).order_by("voided_at", "pk"),
        ),
        (
            "payment",
            _unposted(
                Payment.objects.filter(status=PaymentStatus.SUCCEEDED, amount_captured__gt=0),
                "payment:",
            ).order_by("pk"),
        ),
        (
            "refund",
            _unposted(Refund.objects.filter(status=RefundStatus.SUCCEEDED), "refund:").order_by(
                "pk"
            ),
        ),
        (
            "dispute",
            _unposted(Dispute.objects.filter(status=DisputeStatus.LOST), "dispute:").order_by("pk"),
        ),
        (
            "grant_expiry",
            _unposted(
                CreditEntry.objects.filter(kind=CreditEntryKind.EXPIRY, grant__kind="paid"),
                "grant_expiry:",
            ).order_by("pk"),
        ),
    ]


_POSTERS = {
    "invoice": post_invoice,
    "invoice_void": post_invoice_void,
    "credit_note": post_credit_note,
    "payment": post_payment,
    "refund": post_refund,
    "dispute": post_dispute,
    "grant_expiry": post_grant_expiry,
}


def post_for(source: object) -> JournalEntry | None:
    """Post one source by its type (an invoice, credit note, payment, refund, dispute, credit
    grant expiry entry, or a schedule row for recognition); idempotent."""
    if isinstance(source, RecognitionSchedule):
        return post_recognition(source.pk)
    if isinstance(source, Invoice) and source.status == InvoiceStatus.VOID:
        post_invoice(source)
        return post_invoice_void(source)
    for name, model in (
        ("invoice", Invoice),
        ("credit_note", CreditNote),
        ("payment", Payment),
        ("refund", Refund),
        ("dispute", Dispute),
        ("grant_expiry", CreditEntry),
    ):
        if isinstance(source, model):
            return _POSTERS[name](source)  # type: ignore[operator]
    raise TypeError(f"Nothing to post for {type(source).__name__}.")


def post_pending(*, today: date | datetime) -> PendingResult:
    """Post every unposted source, then every schedule row due on or before ``today``."""
    day = book_date(today) if isinstance(today, datetime) else today
    result = PendingResult()
    for name, queryset in pending_sources(day):
        for source in queryset.iterator(chunk_size=500):
            # Each posting is its own transaction: one broken source is logged and retried
            # tomorrow, and does not hold back the rest of the book.
            try:
                posted = _POSTERS[name](source)  # type: ignore[operator]
            except Exception:
                logger.exception("revenue posting failed", extra={"source": f"{name}:{source.pk}"})
                result.failed.append(f"{name}:{source.pk}")
                continue
            result.entries += posted is not None
    due = RecognitionSchedule.objects.filter(journal_entry__isnull=True, on_date__lte=day)
    for row_id in due.order_by("on_date", "pk").values_list("pk", flat=True).iterator():
        if post_recognition(row_id) is not None:
            result.entries += 1
    return result
