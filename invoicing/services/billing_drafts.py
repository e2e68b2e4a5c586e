"""New billing-run drafts: computed one contract at a time, written a chunk at a time.

A draft used to be its own transaction of five statements (invoice, history row, lines,
webhook event, endpoints), most of the CPU of drafting an invoice. ``drafts_write`` writes
all the new drafts of a chunk in one transaction: one INSERT of the invoices, one of their
history rows, one of all their lines, then each draft's ``invoice.drafted`` event. The unique
constraint still decides: if any insert fails (a concurrent run drafted one of these periods
first), nothing of the batch is kept and the caller writes the drafts one by one with
``draft_write``, which leaves the other run's draft alone, exactly as before.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction

from invoicing.event_payloads import invoice_announce
from invoicing.models import Contract, Invoice, InvoiceKind, InvoiceLine
from invoicing.periods import Period
from invoicing.selectors.computation import InvoiceComputation
from invoicing.selectors.invoices import compute_for_period
from invoicing.services.invoice_lines import line_rows, lines_insert
from invoicing.usage import UsageSource

logger = logging.getLogger(__name__)
DEFAULT_GRACE_HOURS = 24


def grace_hours(contract: Contract) -> int:
    custom = contract.customer.invoice_grace_hours
    default = getattr(settings, "INVOICE_GRACE_HOURS", DEFAULT_GRACE_HOURS)
    return default if custom is None else custom


@dataclasses.dataclass
class PreparedDraft:
    """A draft computed but not written: the unsaved invoice and its computation."""

    invoice: Invoice
    computation: InvoiceComputation


def draft_prepare(
    *,
    contract: Contract,
    period: Period,
    usage: UsageSource,
    now: datetime,
    with_credits: bool = True,
    with_billed: bool = True,
) -> PreparedDraft:
    computation = compute_for_period(
        contract, period, usage=usage, with_credits=with_credits, with_billed=with_billed
    )
    invoice = Invoice(
        customer=contract.customer,
        contract=contract,
        kind=InvoiceKind.PERIOD,
        series=contract.invoice_series,
        currency=contract.currency,
        period_start=period.start,
        period_end=period.end,
        total=computation.total,
        finalize_after=period.end + timedelta(hours=grace_hours(contract)),
        refreshed_at=now,
    )
    return PreparedDraft(invoice, computation)


def draft_write(draft: PreparedDraft) -> Invoice | None:
    """Write one draft in its own transaction; None when its period has a draft already."""
    invoice = draft.invoice
    try:
        with transaction.atomic():
            invoice.save()
            lines_insert(invoice, draft.computation.lines)
            invoice_announce("invoice.drafted", invoice)
    except IntegrityError:
        exists = Invoice.objects.filter(
            contract_id=invoice.contract_id,
            period_start=invoice.period_start,
            period_end=invoice.period_end,
            kind=InvoiceKind.PERIOD,
            replaces__isnull=True,
        ).exists()
        if not exists:
            raise
        return None
    return invoice


def drafts_write(drafts: list[PreparedDraft]) -> bool:
    """Write all ``drafts`` in one transaction; False (and nothing written, the invoices
    unsaved again) when any insert failed."""
    invoices = [draft.invoice for draft in drafts]
    if not invoices:
        return True
    try:
        with transaction.atomic():
            Invoice.objects.bulk_create(invoices)
            Invoice.history.bulk_history_create(invoices)  # type: ignore[attr-defined]
            InvoiceLine.objects.bulk_create(
                [
                    row
                    for draft in drafts
                    for row in line_rows(draft.invoice, draft.computation.lines)
                ]
            )
            for invoice in invoices:
                invoice_announce("invoice.drafted", invoice)
    except Exception as exc:
        if not isinstance(exc, IntegrityError):  # a conflict is expected now and then
            logger.exception("could not write %d drafts together; writing each", len(drafts))
        for invoice in invoices:
            invoice.pk = None
            invoice._state.adding = True
        return False
    return True
