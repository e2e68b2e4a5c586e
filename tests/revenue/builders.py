"""Builders for the revenue tests: invoices with exactly the lines a hand-worked case needs,
finalized on a chosen day, plus payments, refunds and disputes as the apps below store them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import count
from typing import Any

import time_machine

from accounts.models import Customer
from billingsite.money import sum_lines
from disputes.models import Dispute, Refund
from invoicing.models import Contract, CreditNote, Invoice, InvoiceLine, Payment
from invoicing.services.credit_notes import credit_note_create
from revenue.models import Account, JournalEntry, JournalLine
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract

_seq = count(1)
D = Decimal


def at(year: int, month: int, day: int, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def contract_for(customer: Customer | None = None) -> Contract:
    customer = customer or CustomerFactory()
    return make_contract(customer, version=_version())


def _version() -> Any:
    from tests.invoicing.factories import make_version

    return make_version(key=f"rev{next(_seq)}")


def invoice_with(
    contract: Contract,
    lines: list[dict[str, Any]],
    *,
    issued: datetime,
    start: date,
    end: date,
    currency: str = "USD",
) -> Invoice:
    """A finalized invoice with these lines ({kind, amount, charge_key?, start?, end?,
    credit_grant?, details?}); its total is the sum of the lines."""
    invoice = Invoice.objects.create(
        customer=contract.customer,
        contract=contract,
        series=f"REV{currency}",
        currency=currency,
        period_start=midnight(start),
        period_end=midnight(end),
        finalize_after=issued,
    )
    amounts = []
    for position, spec in enumerate(lines, start=1):
        amount = D(spec["amount"])
        amounts.append(amount)
        InvoiceLine.objects.create(
            invoice=invoice,
            position=position,
            kind=spec["kind"],
            description=spec.get("description", spec["kind"]),
            charge_key=spec.get("charge_key", ""),
            period_start=midnight(spec.get("start", start)),
            period_end=midnight(spec.get("end", end)),
            currency=currency,
            amount=amount,
            credit_grant=spec.get("credit_grant"),
            details=spec.get("details", {}),
        )
    Invoice.objects.filter(pk=invoice.pk).update(
        status="finalized",
        number=f"REV-{currency}-{next(_seq):06d}",
        issued_at=issued,
        total=sum_lines(amounts, currency),
    )
    return Invoice.objects.get(pk=invoice.pk)


def credit_note(invoice: Invoice, on: datetime, lines: dict[int, str], outcome: str) -> CreditNote:
    with time_machine.travel(on, tick=False):
        return credit_note_create(
            invoice=invoice,
            reason="hand-worked case",
            outcome=outcome,
            lines={pk: D(amount) for pk, amount in lines.items()},
        )


def payment(invoice: Invoice, amount: str, on: datetime) -> Payment:
    n = next(_seq)
    return Payment.objects.create(
        customer=invoice.customer,
        invoice=invoice,
        stripe_payment_intent_id=f"pi_rev{n}",
        stripe_charge_id=f"ch_rev{n}",
        currency=invoice.currency,
        amount=D(amount),
        amount_captured=D(amount),
        status="succeeded",
        stripe_created=on,
    )


def refund(pay: Payment, amount: str, on: datetime, note: CreditNote | None = None) -> Refund:
    return Refund.objects.create(
        payment=pay,
        invoice=pay.invoice,
        customer=pay.customer,
        currency=pay.currency,
        amount=D(amount),
        reason="requested_by_customer",
        status="succeeded",
        credit_note=note,
        settled_at=on,
    )


def lost_dispute(pay: Payment, amount: str, on: datetime) -> Dispute:
    return Dispute.objects.create(
        stripe_id=f"dp_rev{next(_seq)}",
        stripe_charge_id=pay.stripe_charge_id or "",
        payment=pay,
        invoice=pay.invoice,
        customer=pay.customer,
        currency=pay.currency,
        amount=D(amount),
        reason="fraudulent",
        status="lost",
        closed_at=on,
    )


def journal(entry: JournalEntry) -> list[tuple[str, str, str, str]]:
    """(account, charge key, debit, credit) of an entry's lines, in a stable order."""
    return sorted(
        (line.account, line.charge_key, f"{line.debit:.2f}", f"{line.credit:.2f}")
        for line in entry.lines.all()
    )


def balance(account: str, currency: str = "USD", **tags: Any) -> Decimal:
    """Natural balance (debit-normal or credit-normal) of an account, rounded to cents."""
    lines = JournalLine.objects.filter(account=account, currency=currency, **tags)
    debit = sum((line.debit for line in lines), D(0))
    credit = sum((line.credit for line in lines), D(0))
    natural = credit - debit if account in _CREDIT_NORMAL else debit - credit
    return natural.quantize(D("0.01"))


_CREDIT_NORMAL = {Account.DEFERRED_REVENUE, Account.REVENUE, Account.BREAKAGE, Account.TAX_PAYABLE}
