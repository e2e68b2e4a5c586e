"""The ``journal_entries`` export dataset: one row per journal line with its entry's date,
source and currency (docs/exports.md, docs/revenue-recognition.md).

Registered from ``RevenueConfig.ready()`` in the base layer's registry
(``billingsite.exports``), so the files, the nightly export and ``/api/v1/exports`` serve it
like the built-in datasets without ``reporting`` knowing this app. The journal is append-only,
so a line never changes: the cursor is ``(created_at, id)`` of the line's entry and the line.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q

from billingsite.exports import (
    DATE,
    INT64,
    STRING,
    TIMESTAMP,
    Column,
    Dataset,
    Key,
    Row,
    money_text,
    register_dataset,
    utc,
)
from revenue.models import JournalLine


def _money(name: str, description: str) -> Column:
    text = description + " Decimal string in major units; see `currency`."
    return Column(name, STRING, text, currency_column="currency", nullable=False)


COLUMNS = (
    Column("id", INT64, "Tally's id of the journal line (stable).", nullable=False),
    Column("entry_id", INT64, "The journal entry the line belongs to.", nullable=False),
    Column("date", DATE, "The entry's book date (in REVENUE_TIMEZONE).", nullable=False),
    Column(
        "source_type",
        STRING,
        "invoice, invoice_void, credit_note, payment, refund, dispute, grant_expiry or "
        "recognition.",
        nullable=False,
    ),
    Column("source_key", STRING, "The entry's source, e.g. `invoice:12`.", nullable=False),
    Column(
        "account",
        STRING,
        "receivable, deferred_revenue, revenue, breakage, cash, refunds, dispute_losses or "
        "tax_payable.",
        nullable=False,
    ),
    Column("charge_key", STRING, "The charge (or `breakage`, `credit:prepaid`...), if any."),
    Column("customer_id", INT64, "Tally's id of the customer."),
    Column("customer", STRING, "The customer's external id."),
    Column("invoice_line_id", INT64, "The invoice line the amount belongs to, if any."),
    Column("credit_grant_id", INT64, "The credit grant the amount belongs to, if any."),
    Column("currency", STRING, "ISO 4217 currency code of the amounts.", nullable=False),
    _money("debit", "Debit (0 on a credit line)."),
    _money("credit", "Credit (0 on a debit line)."),
    Column("memo", STRING, "The entry's memo."),
    Column(
        "created_at",
        TIMESTAMP,
        "When the entry was posted; the incremental cursor (UTC).",
        nullable=False,
    ),
)


def _row(line: JournalLine) -> Row:
    entry = line.entry
    return {
        "id": line.pk,
        "entry_id": entry.pk,
        "date": entry.date,
        "source_type": entry.source_type,
        "source_key": entry.source_key,
        "account": line.account,
        "charge_key": line.charge_key or None,
        "customer_id": line.customer_id,
        "customer": line.customer.external_id if line.customer else None,
        "invoice_line_id": line.invoice_line_id,
        "credit_grant_id": line.credit_grant_id,
        "currency": line.currency,
        "debit": money_text(line.debit, line.currency),
        "credit": money_text(line.credit, line.currency),
        "memo": entry.memo or None,
        "created_at": utc(entry.created_at),
    }


def journal_entries_page(
    *, since: datetime | None, until: datetime | None, after: Key | None, limit: int
) -> list[tuple[Key, Row]]:
    """Journal lines by (entry created_at, line id), strictly after ``after``, the entry's
    creation in ``[since, until)``."""
    filters: dict[str, Any] = {}
    if since is not None:
        filters["entry__created_at__gte"] = since
    if until is not None:
        filters["entry__created_at__lt"] = until
    lines = JournalLine.objects.select_related("entry", "customer").filter(**filters)
    if after is not None:
        moment, pk = after
        lines = lines.filter(
            Q(entry__created_at__gt=moment) | Q(entry__created_at=moment, pk__gt=pk)
        )
    page = lines.order_by("entry__created_at", "pk")[:limit]
    return [((line.entry.created_at, line.pk), _row(line)) for line in page]


JOURNAL_ENTRIES = Dataset(
    name="journal_entries",
    version=1,
    description="Every line of the double-entry revenue journal (append-only), with its "
    "entry's date, source and currency; each entry's debits equal its credits.",
    columns=COLUMNS,
    cursor="created_at, id",
    key_types=("timestamp", "int"),
    page=journal_entries_page,
    owner="revenue",
)


def register() -> None:
    register_dataset(JOURNAL_ENTRIES)
