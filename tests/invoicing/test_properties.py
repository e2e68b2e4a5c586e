"""Property tests of invariants 3, 4 and 9 over generated contracts, usage and credits:
total == sum of lines; re-running the billing run changes nothing; credits never go below
zero; every grant's balance equals the sum of its ledger entries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billingsite.money import currency_exponent
from invoicing.models import CreditGrant, Invoice, InvoiceLine
from invoicing.selectors.credits import grants_with_balance
from invoicing.services.billing import billing_run
from invoicing.services.credits import credit_grant_create
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract, make_version
from tests.usage_sources import fixed_usage

pytestmark = pytest.mark.django_db


@contextmanager
def rolled_back() -> Iterator[None]:
    """Each hypothesis example runs in a savepoint that is thrown away."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def money(currency: str, max_units: int) -> st.SearchStrategy[Decimal]:
    places = currency_exponent(currency)
    return st.integers(min_value=1, max_value=max_units * 10**places).map(
        lambda minor: Decimal(minor).scaleb(-places)
    )


@st.composite
def scenarios(draw: st.DrawFn) -> dict:
    currency = draw(st.sampled_from(["USD", "JPY", "KWD"]))
    unit = Decimal(draw(st.integers(min_value=1, max_value=10**6))).scaleb(
        -draw(st.integers(min_value=0, max_value=8))
    )
    return {
        "currency": currency,
        "fee": draw(money(currency, 1000)),
        "unit": unit,
        "usage": Decimal(draw(st.integers(min_value=0, max_value=10**7))).scaleb(
            -draw(st.integers(min_value=0, max_value=3))
        ),
        "start": date(2026, 1, draw(st.integers(min_value=1, max_value=28))),
        "anchor": draw(st.integers(min_value=1, max_value=31)),
        "tz": draw(st.sampled_from(["UTC", "America/New_York", "Australia/Lord_Howe"])),
        "grants": draw(
            st.lists(
                st.tuples(
                    money(currency, 300),
                    st.sampled_from(["promotional", "paid"]),
                    st.integers(min_value=0, max_value=3),
                    st.one_of(st.none(), st.integers(20, 120)),
                ),
                max_size=4,
            )
        ),
    }


def _snapshot() -> list[tuple]:
    return list(
        InvoiceLine.objects.order_by("pk").values_list(
            "pk", "invoice_id", "amount", "kind", "credit_grant_id"
        )
    )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenarios())
def test_billing_invariants(case: dict) -> None:
    with rolled_back():
        customer = CustomerFactory(currency=case["currency"], timezone=case["tz"])
        version = make_version(
            [
                {
                    "key": "fee",
                    "name": "Fee",
                    "kind": "fixed",
                    "price": {"model": "flat", "amount": str(case["fee"])},
                },
                {
                    "key": "calls",
                    "name": "Calls",
                    "kind": "usage",
                    "meter_key": "calls",
                    "price": {"model": "per_unit", "unit_amount": str(case["unit"])},
                },
            ],
            key=f"p-{case['currency'].lower()}",
            currency=case["currency"],
        )
        make_contract(
            customer, version=version, start=case["start"], anchor=case["anchor"], tz=case["tz"]
        )
        base = datetime(2025, 12, 1, tzinfo=UTC)
        for amount, kind, priority, expiry_days in case["grants"]:
            credit_grant_create(
                customer=customer,
                kind=kind,
                amount=amount,
                currency=case["currency"],
                effective_at=base,
                priority=priority,
                expires_at=None if expiry_days is None else base + timedelta(days=expiry_days),
            )
        usage = fixed_usage({"calls": case["usage"]})
        now = datetime(2026, 4, 5, tzinfo=UTC)
        billing_run(now=now, usage=usage)
        first = _snapshot()
        billing_run(now=now, usage=usage)
        assert _snapshot() == first  # re-running changes nothing

        invoices = list(Invoice.objects.all())
        assert invoices, "at least one period ended"
        periods = [(inv.contract_id, inv.period_start, inv.period_end) for inv in invoices]
        assert len(periods) == len(set(periods))  # one invoice per contract and period
        for invoice in invoices:
            lines_total = invoice.lines.aggregate(s=Sum("amount"))["s"] or Decimal(0)
            assert invoice.total.amount == lines_total
            assert invoice.total.amount >= 0
        for grant in grants_with_balance(customer):
            entries = grant.entries.aggregate(s=Sum("amount"))["s"]
            assert grant.balance == entries
            assert grant.balance >= 0
        assert CreditGrant.objects.filter(customer=customer).count() == len(case["grants"])
