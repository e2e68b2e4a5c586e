"""Properties of the journal: for any sequence of invoices (fixed fees over any span, usage,
discounts, prepaid credit draws), credit notes, refunds, voids and a prepaid commit's expiry, posted
by the daily job at any moments, every entry balances, and for every invoice line deferred +
recognized = billed net of its credit notes. Each month's close rolls into the next and ties
to the invoices."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from billingsite.invariants import registered_checks
from invoicing.models import CreditNote, Invoice, InvoiceLine
from invoicing.services.contracts import commit_create
from invoicing.services.credit_notes import credited_by_line
from invoicing.services.credits import credit_draw, credit_expire, grant_balance
from invoicing.services.invoices import invoice_mark_paid, invoice_void
from revenue.models import Account, JournalEntry, JournalLine
from revenue.selectors import Month, month_close
from revenue.services.recognition import post_pending
from tests.revenue.builders import (
    contract_for,
    credit_note,
    invoice_with,
    midnight,
    payment,
    refund,
)

CENTS = Decimal("0.01")
START = date(2026, 1, 1)
INVOICE = st.tuples(
    st.just("invoice"),
    st.integers(0, 200_000),  # fixed fee, cents
    st.integers(1, 400),  # fixed fee service days
    st.integers(0, 90_000),  # usage, cents
    st.integers(0, 60),  # discount percent
    st.integers(0, 100),  # percent of the amount due drawn from the prepaid commit
)
CREDIT = st.tuples(
    st.just("credit_note"),
    st.integers(0, 50),
    st.integers(1, 100),
    st.sampled_from(["reduce_amount_due", "customer_credit", "refund"]),
)
VOID = st.tuples(st.just("void"), st.integers(0, 50))
STEPS = st.lists(
    st.tuples(
        st.integers(1, 45),  # days since the previous step
        st.one_of(INVOICE, CREDIT, VOID, st.just(("post",)), st.just(("expire",))),
    ),
    min_size=1,
    max_size=9,
)


def _invoice(contract, grant, day: date, spec) -> Invoice:  # type: ignore[no-untyped-def]
    _, fixed, days, usage, percent, draw = spec
    fixed_amount, usage_amount = Decimal(fixed) * CENTS, Decimal(usage) * CENTS
    discount = ((fixed_amount + usage_amount) * percent / 100).quantize(CENTS)
    due = fixed_amount + usage_amount - discount
    drawn = min((due * draw / 100).quantize(CENTS), grant_balance(grant.pk))
    previous = (day.replace(day=1) - timedelta(days=1)).replace(day=1)
    lines = [
        {
            "kind": "fixed",
            "amount": fixed_amount,
            "charge_key": "platform",
            "start": day,
            "end": day + timedelta(days=days),
        },
        {
            "kind": "usage",
            "amount": usage_amount,
            "charge_key": "calls",
            "start": previous,
            "end": day.replace(day=1),
        },
        {"kind": "discount", "amount": -discount, "charge_key": "promo"},
        {"kind": "credit", "amount": -drawn, "credit_grant": grant},
    ]
    invoice = invoice_with(
        contract,
        [ln for ln in lines if ln["amount"]],
        issued=midnight(day),
        start=previous,
        end=day + timedelta(days=days),
    )
    if drawn:
        credit_draw(invoice=invoice, draws=[(grant.pk, drawn)])
    return invoice


def _credit_note(invoices: list[Invoice], day: date, spec) -> None:  # type: ignore[no-untyped-def]
    _, pick, percent, outcome = spec
    if not invoices:
        return
    invoice = Invoice.objects.get(pk=invoices[pick % len(invoices)].pk)
    if invoice.status == "void":
        return  # nothing to credit on a voided invoice
    already = credited_by_line(invoice)
    lines = [ln for ln in invoice.lines.filter(amount__gt=0).order_by("position")]
    left = sum((ln.amount.amount - already.get(ln.pk, 0) for ln in lines), Decimal(0))
    room = min(left, invoice.total.amount - sum(already.values(), Decimal(0)))
    if not lines or room <= 0:
        return
    line = lines[pick % len(lines)]
    amount = min((line.amount.amount - already.get(line.pk, 0)) * percent / 100, room)
    amount = amount.quantize(CENTS)
    if amount <= 0:
        return
    pay = None
    if outcome == "refund" and invoice.status != "paid":
        pay = payment(invoice, f"{invoice.total.amount:.2f}", midnight(day))
        invoice = invoice_mark_paid(invoice=invoice, now=midnight(day))
    elif outcome != "refund" and invoice.status == "paid":
        outcome = "customer_credit"
    note = credit_note(invoice, midnight(day), {line.pk: f"{amount}"}, outcome)
    if outcome == "refund" and pay is not None:
        refund(pay, f"{amount}", midnight(day), note)


def _void(invoices: list[Invoice], day: date, spec, grant) -> None:  # type: ignore[no-untyped-def]
    """Void an unpaid invoice (while the commit's credit it may return can still be used)."""
    if not invoices or grant.expires_at <= midnight(day):
        return
    invoice = Invoice.objects.get(pk=invoices[spec[1] % len(invoices)].pk)
    if invoice.status == "finalized":
        invoice_void(invoice=invoice, reason="property", now=midnight(day))


def _run(contract, grant, steps) -> list[Invoice]:  # type: ignore[no-untyped-def]
    day, invoices = START, []
    for gap, step in steps:
        day += timedelta(days=gap)
        if step[0] == "invoice":
            invoices.append(_invoice(contract, grant, day, step))
        elif step[0] == "credit_note":
            _credit_note(invoices, day, step)
        elif step[0] == "void":
            _void(invoices, day, step, grant)
        elif step[0] == "post":
            post_pending(today=day)
        elif step[0] == "expire" and grant.expires_at <= midnight(day):
            credit_expire(now=midnight(day))
    credit_expire(now=midnight(date(2028, 1, 1)))
    return invoices


def _tagged(account: str, line: InvoiceLine) -> Decimal:
    rows = JournalLine.objects.filter(account=account, invoice_line=line)
    return sum((r.credit - r.debit for r in rows), Decimal(0))


def _check_lines() -> None:
    credited: dict[int, Decimal] = {}
    for cnote in CreditNote.objects.prefetch_related("lines"):
        for cn_line in cnote.lines.all():
            pk = cn_line.invoice_line_id
            credited[pk] = credited.get(pk, Decimal(0)) + cn_line.amount.amount
    for line in InvoiceLine.objects.filter(invoice__issued_at__isnull=False).select_related(
        "invoice"
    ):
        deferred = _tagged(Account.DEFERRED_REVENUE, line)
        recognized = _tagged(Account.REVENUE, line) + _tagged(Account.BREAKAGE, line)
        billed_net = line.amount.amount - credited.get(line.pk, Decimal(0))
        if line.invoice.status == "void":
            billed_net = Decimal(0)  # the void took back what the credit notes left
        assert deferred + recognized == billed_net, (line.kind, deferred, recognized, billed_net)
        assert deferred == 0, (line.kind, deferred)  # all recognized by 2028 (or expired)


def _check_months() -> None:
    month, closing = Month.parse("2025-12"), "0.00"
    while month.start < date(2028, 2, 1):
        close = month_close(month)["currencies"].get("USD")
        if close is not None:
            assert close["deferred_revenue"]["opening"] == closing
            closing = close["deferred_revenue"]["closing"]
            assert close["ties_to_invoices"]["ok"], close["ties_to_invoices"]
        month = Month.parse(month.end.strftime("%Y-%m"))
    # What is left deferred is only the customer credit of credit notes, not yet used.
    left = JournalLine.objects.filter(account=Account.DEFERRED_REVENUE, currency="USD")
    assert closing == f"{sum((r.credit - r.debit for r in left), Decimal(0)):.2f}"


@pytest.mark.slow  # many Hypothesis examples, each a database round
@pytest.mark.django_db
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=STEPS)
def test_journal_balances_and_every_line_is_deferred_or_recognized(steps) -> None:  # type: ignore[no-untyped-def]
    note(repr(steps))
    sid = transaction.savepoint()
    try:
        contract = contract_for()
        commit = commit_create(
            contract=contract,
            kind="prepaid",
            amount="5000.00",
            effective_from=START,
            effective_to=date(2026, 7, 1),
        )
        commit_invoice = invoice_with(
            contract,
            [{"kind": "commit", "amount": "5000.00", "details": {"commit_id": commit.pk}}],
            issued=midnight(START),
            start=START,
            end=date(2026, 2, 1),
        )
        _run(contract, commit.credit_grant, steps)
        post_pending(today=date(2028, 1, 31))
        assert post_pending(today=date(2028, 1, 31)).entries == 0  # idempotent
        for check in registered_checks():
            if check.name.startswith("revenue."):
                assert list(check.func()) == [], check.name
        _check_lines()
        _check_months()
        assert JournalEntry.objects.filter(source_key=f"invoice:{commit_invoice.pk}").exists()
    finally:
        transaction.savepoint_rollback(sid)
