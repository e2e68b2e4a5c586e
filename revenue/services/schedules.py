"""Recognition schedules of a finalized invoice's lines (the rules in docs/revenue-recognition.md).

- fixed fees: ratably by day over the line's service period, one row per calendar month (dated
  the last day of the period in that month), split by ``billingsite.money.allocate`` so the rows
  sum exactly to the line;
- usage, late-usage adjustments and true-ups: in the period consumed, one row on its last day;
- discounts: against the revenue they reduce, allocated over the invoice's charge lines by
  amount and then over each line's own rows, under that line's charge key;
- prepaid commits: no rows at billing; recognized as they are drawn (a row per draw) and as
  breakage when the rest expires;
- credit lines: a negative row on the period's last day; a draw on a funded grant (a prepaid
  commit or a credit note's customer credit) also releases that grant's deferred balance by
  the same amount, so the pair nets to zero revenue and the usage the credit paid for stays.

Revenue is dated when it is earned, even when the invoice comes later (usage billed in arrears
is revenue of the month it was consumed; until invoiced it is a debit balance of deferred
revenue, i.e. unbilled revenue). The exception is a late-usage adjustment: the month it belongs
to may be closed, so it is recognized on the day the adjustment is billed.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from billingsite.money import allocate, amount_of
from invoicing.models import CreditGrant, Invoice, InvoiceLine, LineKind
from invoicing.models.credits import GrantKind
from revenue.models import Account, RecognitionSchedule
from revenue.services.journal import book_date

CHARGE_KINDS = (LineKind.FIXED, LineKind.USAGE, LineKind.ADJUSTMENT, LineKind.TRUE_UP)
ON_PERIOD_END = (LineKind.USAGE, LineKind.ADJUSTMENT, LineKind.TRUE_UP)
DRAWDOWN_KEY = "credit:prepaid"
PROMOTIONAL_KEY = "credit:promotional"


@dataclass(frozen=True)
class Subject:
    """What a deferred balance belongs to: an invoice line, a credit grant, or both."""

    invoice_line_id: int | None = None
    credit_grant_id: int | None = None


@dataclass
class Plan:
    """The rows one posting will write, before they are saved."""

    rows: list[RecognitionSchedule] = field(default_factory=list)

    def add(self, subject: Subject, customer_id: int, currency: str, **values: object) -> None:
        if values["amount"] == 0:
            return
        self.rows.append(
            RecognitionSchedule(
                invoice_line_id=subject.invoice_line_id,
                credit_grant_id=subject.credit_grant_id,
                customer_id=customer_id,
                currency=currency,
                **values,
            )
        )


def charge_key_of(line: InvoiceLine) -> str:
    return line.charge_key or str(line.kind)


def last_day(moment: datetime) -> date:
    """The book day of the last instant of a half-open period ending at ``moment``."""
    return book_date(moment - timedelta(microseconds=1))


def month_days(first: date, last: date) -> list[tuple[date, int]]:
    """(row date, days) for each calendar month of the inclusive range ``first..last``."""
    result = []
    day = first
    while day <= last:
        month_end = day.replace(day=calendar.monthrange(day.year, day.month)[1])
        end = min(month_end, last)
        result.append((end, (end - day).days + 1))
        day = end + timedelta(days=1)
    return result


def ratable(amount: Decimal, line: InvoiceLine) -> list[tuple[date, Decimal]]:
    first, last = book_date(line.period_start), last_day(line.period_end)
    months = month_days(first, max(first, last))
    parts = allocate(amount, [days for _, days in months], line.currency)
    return [(day, part) for (day, _), part in zip(months, parts, strict=True)]


def line_amount(line: InvoiceLine) -> Decimal:
    return amount_of(line.amount)


def grant_subject(grant: CreditGrant) -> Subject | None:
    """The deferred balance a paid grant draws on: its prepaid commit's invoice line, or the
    grant itself when a credit note funded it. Promotional grants (and paid grants nobody
    billed for) fund nothing: their draws reduce revenue, like a discount."""
    if grant.kind != GrantKind.PAID:
        return None
    if grant.commit_id is not None:
        line = (
            InvoiceLine.objects.filter(
                kind=LineKind.COMMIT,
                details__commit_id=grant.commit_id,
                invoice__issued_at__isnull=False,
            )
            .order_by("pk")
            .first()
        )
        return Subject(line.pk if line else None, grant.pk)
    if hasattr(grant, "credit_note"):
        return Subject(None, grant.pk)
    return None


def commit_grant_id(line: InvoiceLine) -> int | None:
    commit_id = (line.details or {}).get("commit_id")
    if line.kind != LineKind.COMMIT or commit_id is None:
        return None
    return CreditGrant.objects.filter(commit_id=commit_id).values_list("pk", flat=True).first()


def invoice_plan(invoice: Invoice, issue_day: date) -> Plan:
    """The schedule rows of every line of a finalized invoice (see the module doc)."""
    plan = Plan()
    lines = list(invoice.lines.order_by("position"))
    charge_rows: dict[int, list[tuple[date, Decimal]]] = {}
    for line in lines:
        amount = line_amount(line)
        if line.kind in ON_PERIOD_END:
            charge_rows[line.pk] = [(last_day(line.period_end), amount)]
        elif line.kind == LineKind.FIXED and amount != 0:
            charge_rows[line.pk] = ratable(amount, line)
    by_pk = {line.pk: line for line in lines}
    for pk, rows in charge_rows.items():
        for day, amount in rows:
            _add(plan, by_pk[pk], Subject(pk), day, amount, charge_key_of(by_pk[pk]))
    for line in lines:
        if line.kind == LineKind.DISCOUNT:
            _discount_rows(plan, line, by_pk, charge_rows)
        elif line.kind == LineKind.CREDIT:
            _credit_rows(plan, line)
    adjustments = {line.pk for line in lines if line.kind == LineKind.ADJUSTMENT}
    for row in plan.rows:
        if row.invoice_line_id in adjustments:
            row.on_date = max(row.on_date, issue_day)
    return plan


def _add(
    plan: Plan,
    line: InvoiceLine,
    subject: Subject,
    day: date,
    amount: Decimal,
    charge_key: str,
    account: str = Account.REVENUE,
) -> None:
    plan.add(
        subject,
        line.invoice.customer_id,
        line.currency,
        on_date=day,
        amount=amount,
        account=account,
        charge_key=charge_key,
        origin=f"invoice:{line.invoice_id}",
    )


def _discount_rows(
    plan: Plan,
    line: InvoiceLine,
    by_pk: dict[int, InvoiceLine],
    charge_rows: dict[int, list[tuple[date, Decimal]]],
) -> None:
    amount = line_amount(line)
    targets = [pk for pk, rows in charge_rows.items() if sum(a for _, a in rows) > 0]
    if not targets:
        for day, part in ratable(amount, line):
            _add(plan, line, Subject(line.pk), day, part, charge_key_of(line))
        return
    weights = [sum(a for _, a in charge_rows[pk]) for pk in targets]
    for pk, share in zip(targets, allocate(amount, weights, line.currency), strict=True):
        rows = [(day, a) for day, a in charge_rows[pk] if a > 0]
        parts = allocate(share, [a for _, a in rows], line.currency)
        for (day, _), part in zip(rows, parts, strict=True):
            _add(plan, line, Subject(line.pk), day, part, charge_key_of(by_pk[pk]))


def _credit_rows(plan: Plan, line: InvoiceLine) -> None:
    amount, day = line_amount(line), last_day(line.period_end)
    grant = line.credit_grant
    funding = grant_subject(grant) if grant is not None else None
    key = DRAWDOWN_KEY if funding is not None else PROMOTIONAL_KEY
    _add(plan, line, Subject(line.pk), day, amount, key)
    if funding is not None:
        _add(plan, line, funding, day, -amount, key)
