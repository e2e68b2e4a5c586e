"""Finalizing a billing run's due drafts a batch at a time.

``invoice_finalize`` costs about eight statements and a commit per invoice. ``drafts_finalize``
finalizes a batch of drafts (one contract each, the billing run's common case) in one
transaction with set-based SQL, keeping every guarantee of the single-invoice path:

- the drafts and their contracts are locked in one statement, in contract order (so two
  batches never wait on each other in a cycle); a draft another run holds is skipped
  (``SKIP LOCKED``) and one that is no longer a draft is not returned, so a concurrent or
  retried run never finalizes an invoice twice;
- each draft is recomputed with exactly the code of the single path (``finalize_compute``:
  grants locked, lines rewritten if the computation changed, credit draw-downs written) one
  after the other, so a second invoice of a customer sees the draws of the first; the stored
  lines of the whole batch are read in one query;
- the numbers are taken last, as one block per series (``numbers_allocate``) in the order the
  single path would have numbered the drafts, so they stay gapless and a rollback gives the
  block back;
- one conditional UPDATE finalizes them all (``invoices_transition``; it fails the batch unless
  every row was still a draft), one INSERT writes their transition rows, one their Stripe
  outbox rows (unique key per invoice), and their ``invoice.finalized`` events
  (``billingsite.events.emit_many``: one INSERT of the webhook events, one of the deliveries).

Any failure rolls the whole batch back (nothing of it is kept: no number, no draw, no outbox
row) and the caller finalizes the drafts one by one, each failure reported on its own. The PDF
is rendered after the commit, as on the single path.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Field
from django.utils import timezone

from billingsite.errors import Conflict
from billingsite.outbox.bulk import outbox_enqueue_many
from invoicing.event_payloads import invoices_announce
from invoicing.metrics import INVOICES_FINALIZED
from invoicing.models import Contract, Invoice, InvoiceTransition
from invoicing.selectors.computation import InvoiceComputation
from invoicing.services.invoice_lines import stored_lines
from invoicing.services.invoices import finalize_compute
from invoicing.services.numbering import numbers_allocate
from invoicing.states import InvoiceStatus, can_transition
from invoicing.stripe.topics import INVOICE_PUSH_TOPIC, invoice_push_key
from invoicing.usage import UsageSource

logger = logging.getLogger(__name__)
DEFAULT_BATCH = 250


def finalize_batch_size() -> int:
    """Drafts finalized per transaction (``INVOICING_FINALIZE_BATCH``; 1 finalizes each
    draft on its own, as ``invoice_finalize`` does)."""
    return max(1, int(getattr(settings, "INVOICING_FINALIZE_BATCH", DEFAULT_BATCH)))


@dataclasses.dataclass
class DueDraft:
    """A draft the run finalizes, with its contract (terms prefetched) and what the chunk
    read says the customer lacks (``with_credits``/``with_billed`` False skip those reads)."""

    invoice_id: int
    contract: Contract
    with_credits: bool = True
    with_billed: bool = True


class FinalizeQueue:
    """Due drafts of consecutive contracts, finalized together when ``flush`` is called
    (the caller flushes when the queue is ``full`` and before a contract it handles on its
    own, so the invoices are numbered in the order one by one would number them). Each draft
    comes with what to do if its batch fails (finalize it on its own, reporting a failure)."""

    def __init__(self, *, now: datetime, usage: UsageSource, size: int | None = None) -> None:
        self.now, self.usage = now, usage
        self.size = size or finalize_batch_size()
        self.pending: list[tuple[DueDraft, Callable[[], None]]] = []

    @property
    def full(self) -> bool:
        return len(self.pending) >= self.size

    def add(self, draft: DueDraft, alone: Callable[[], None]) -> None:
        self.pending.append((draft, alone))

    def flush(self) -> list[Invoice]:
        """Finalize the queue: the invoices the batch finalized; if it failed, each draft's
        ``alone`` was called instead (and [] returned)."""
        pending, self.pending = self.pending, []
        if not pending:
            return []
        finalized = drafts_finalize(
            [draft for draft, _alone in pending], usage=self.usage, now=self.now
        )
        if finalized is not None:
            return finalized
        for _draft, alone in pending:
            alone()
        return []


def drafts_finalize(
    drafts: list[DueDraft], *, usage: UsageSource, now: datetime
) -> list[Invoice] | None:
    """Finalize ``drafts`` (at most one per contract) in one transaction: the invoices
    finalized, in the order given (a draft another run holds or finalized is left out), or
    None when the batch failed and nothing of it was written."""
    try:
        with transaction.atomic():
            return _finalize(drafts, usage, now)
    except Exception:
        logger.exception("could not finalize %d drafts together; finalizing each", len(drafts))
        return None


def _finalize(drafts: list[DueDraft], usage: UsageSource, now: datetime) -> list[Invoice]:
    due = {draft.invoice_id: draft for draft in drafts}
    if len({draft.contract.pk for draft in drafts}) != len(drafts):
        raise ValueError("a batch finalizes at most one draft per contract")
    locked = _lock_drafts_and_contracts(list(due))
    lines = stored_lines([invoice.pk for invoice, _updated_at in locked])
    order = {draft.invoice_id: n for n, draft in enumerate(drafts)}
    computed: list[tuple[Invoice, Contract, InvoiceComputation]] = []
    # In the caller's order (the single path's), so credits are drawn as it would draw them.
    for invoice, contract_updated_at in sorted(locked, key=lambda row: order[row[0].pk]):
        draft = due[invoice.pk]
        current = draft.contract if draft.contract.updated_at == contract_updated_at else None
        contract, computation = finalize_compute(
            invoice,
            current,
            usage=usage,
            now=now,
            with_credits=draft.with_credits,
            with_billed=draft.with_billed,
            stored=lines.get(invoice.pk, []),
        )
        computed.append((invoice, contract, computation))
    invoices = _issue_all(computed, now)
    outbox_enqueue_many(
        INVOICE_PUSH_TOPIC,
        [(invoice_push_key(invoice.pk), {"invoice_id": invoice.pk}) for invoice in invoices],
    )
    invoices_announce("invoice.finalized", invoices)
    if invoices:
        transaction.on_commit(lambda: INVOICES_FINALIZED.inc(len(invoices)))
    return invoices


def _lock_drafts_and_contracts(invoice_ids: list[int]) -> list[tuple[Invoice, datetime]]:
    """``invoices._lock_draft_and_contract`` for many drafts: (draft, its contract's
    ``updated_at``) for each draft still a draft and not held by another run, the contracts
    locked in id order (waited for: an amendment commits soon)."""
    rows = Invoice.objects.raw(
        "SELECT i.*, c.updated_at AS contract_updated_at FROM invoicing_invoice i"
        " JOIN invoicing_contract c ON c.id = i.contract_id"
        " WHERE i.id = ANY(%s) AND i.status = %s"
        " ORDER BY c.id, i.id FOR UPDATE OF i SKIP LOCKED FOR UPDATE OF c",
        [invoice_ids, InvoiceStatus.DRAFT],
    )
    return [(row, row.contract_updated_at) for row in rows]  # type: ignore[attr-defined]


def _issue_all(
    computed: list[tuple[Invoice, Contract, InvoiceComputation]], now: datetime
) -> list[Invoice]:
    """``invoices._issue`` for the batch: numbers taken last, one block per series (in
    series order, so two batches take the counters' locks in the same order), handed out in
    the batch's order; then one transition for all."""
    wanted: dict[str, int] = {}
    for invoice, _contract, _computation in computed:
        wanted[invoice.series] = wanted.get(invoice.series, 0) + 1
    numbers = {series: iter(numbers_allocate(series, wanted[series])) for series in sorted(wanted)}
    changes = []
    for invoice, contract, computation in computed:
        invoice.customer = contract.customer
        invoice.contract = contract
        fields = {
            "number": next(numbers[invoice.series]),
            "issued_at": now,
            "due_at": now + timedelta(days=contract.net_days),
            "total": computation.total,
            "updated_at": now,
        }
        changes.append((invoice, fields))
    invoices_transition(
        changes=changes,
        to=InvoiceStatus.FINALIZED,
        known_status=InvoiceStatus.DRAFT,
        reason="finalized",
    )
    return [invoice for invoice, _fields in changes]


def _column(name: str) -> Field[Any, Any]:
    field = Invoice._meta.get_field(name)
    if not isinstance(field, Field):
        raise ValueError(f"{name} is not a column of invoices")
    return field


def invoices_transition(
    *,
    changes: list[tuple[Invoice, dict[str, Any]]],
    to: str,
    known_status: str,
    reason: str,
    actor: User | None = None,
) -> None:
    """``invoices.invoice_transition`` for many invoices whose row locks the caller holds and
    whose status it knows (``known_status``): one conditional UPDATE sets each invoice's own
    ``fields`` (the same names for all), one INSERT records the transitions. Unless every
    invoice moved, ``Conflict`` (the caller's transaction rolls back). Used where no event is
    announced by the transition itself (not for paid or void)."""
    if not changes:
        return
    if not can_transition(known_status, to):
        raise Conflict("invalid_transition", f"Invoices cannot go from {known_status} to {to}.")
    names = sorted(changes[0][1])
    fields = [_column(name) for name in names]
    columns = ", ".join(f'"{field.column}"' for field in fields)
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields)
    sets = ", ".join(f'"{field.column}" = v."{field.column}"' for field in fields)
    stamp = "" if "updated_at" in names else ", updated_at = %s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE invoicing_invoice AS i SET status = %s{stamp}, {sets}"  # noqa: S608
            f" FROM unnest(%s::bigint[], {arrays}) AS v(id, {columns})"
            " WHERE i.id = v.id AND i.status = %s",
            [
                to,
                *([] if stamp == "" else [timezone.now()]),
                [invoice.pk for invoice, _values in changes],
                *[
                    [
                        field.get_db_prep_save(values[field.name], connection)
                        for _i, values in changes
                    ]
                    for field in fields
                ],
                known_status,
            ],
        )
        if cursor.rowcount != len(changes):
            raise Conflict("invalid_transition", "Invoices of the batch changed status meanwhile.")
    InvoiceTransition.objects.bulk_create(
        [
            InvoiceTransition(
                invoice=invoice, from_status=known_status, to_status=to, actor=actor, reason=reason
            )
            for invoice, _values in changes
        ]
    )
    for invoice, values in changes:
        for name, value in values.items():
            setattr(invoice, name, value)
        invoice.status = to
