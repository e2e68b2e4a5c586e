"""Customers with credit, rules and invoices to draw from, for the top-up tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import count

from accounts.models import Customer
from invoicing.models import AutoRechargeRule, CreditGrant, Invoice
from invoicing.services.credit_topups import auto_recharge_rule_set
from invoicing.services.credits import credit_grant_create
from tests.revenue.builders import contract_for, invoice_with

_seq = count(1)
D = Decimal


def customer_with_credit(*amounts: str) -> tuple[Customer, list[CreditGrant]]:
    contract = contract_for()
    customer = contract.customer
    grants = [
        credit_grant_create(
            customer=customer,
            kind="paid",
            amount=D(amount),
            currency="USD",
            effective_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        for amount in amounts
    ]
    return customer, grants


def rule_for(
    customer: Customer, threshold: str = "50", amount: str = "100", max_per_month: int = 3
) -> AutoRechargeRule:
    return auto_recharge_rule_set(
        customer=customer,
        currency="USD",
        threshold=threshold,
        amount=amount,
        max_per_month=max_per_month,
    )


def invoice_for(customer: Customer) -> Invoice:
    contract = customer.contracts.first()
    assert contract is not None
    n = next(_seq)
    return invoice_with(
        contract,
        [{"kind": "usage", "amount": "1.00", "charge_key": f"u{n}"}],
        issued=datetime(2026, 2, 1, tzinfo=UTC),
        start=date(2025, 1, 1) + timedelta(days=n),
        end=date(2025, 1, 2) + timedelta(days=n),
    )
