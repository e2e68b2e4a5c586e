"""The finance dashboard: its figures per currency, and who may see it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts.roles import FINANCE, SUPPORT
from billingsite.finance import (
    DEFERRED_REVENUE,
    FinanceTable,
    finance_section,
    register_finance_section,
    unregister_finance_section,
)
from invoicing.models import Invoice, InvoiceLine
from reporting.finance import selectors
from tests.disputes.factories import staff
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract, make_version
from tests.reporting.conftest import NOW, World

pytestmark = pytest.mark.django_db

ANNUAL_FEE = {
    "key": "platform",
    "name": "Platform fee",
    "kind": "fixed",
    "price": {"model": "flat", "amount": "1200.00"},
}


def test_mrr_normalizes_recurring_fees_per_currency(db: None) -> None:
    monthly = make_version(key="m-usd")  # 100.00 USD a month and a usage charge
    annual = make_version([ANNUAL_FEE], key="a-eur", currency="EUR", cadence="annual")
    make_contract(version=monthly, start=date(2026, 1, 1))
    make_contract(version=monthly, start=date(2026, 1, 1), end=date(2026, 3, 1))  # ended
    make_contract(CustomerFactory(currency="EUR"), version=annual, start=date(2026, 2, 1))
    assert selectors.mrr_on(date(2026, 6, 1)) == {"USD": Decimal("100"), "EUR": Decimal("100")}
    assert selectors.mrr_on(date(2026, 1, 15)) == {"USD": Decimal("200")}


def test_usage_revenue_aging_top_customers_and_nrr(world: World) -> None:
    today = NOW.date()
    usage = selectors.usage_revenue_by_month(today)
    expected = sum(
        (
            line.amount.amount
            for line in InvoiceLine.objects.filter(
                kind="usage", invoice__status__in=["finalized", "paid"]
            )
        ),
        Decimal(0),
    )
    assert usage == {"USD": {date(2026, 1, 1): expected}}
    aging = selectors.ar_aging(NOW)
    # The open invoice was fully credited (reduce_amount_due): nothing is due on it.
    assert aging == {}
    top = selectors.top_customers(NOW)
    issued = Invoice.objects.exclude(status="draft").order_by("customer_id")
    assert [(c.pk, amount) for c, amount in top["USD"]] == sorted(
        [(i.customer_id, i.total.amount) for i in issued], key=lambda pair: (-pair[1], pair[0])
    )
    # A year later the January invoices are the base year and nobody was invoiced since.
    (retention,) = selectors.net_revenue_retention(datetime(2027, 6, 1, tzinfo=UTC))
    assert (retention.currency, retention.customers, retention.current) == ("USD", 2, Decimal(0))
    assert retention.nrr == Decimal("0.0")


def test_ar_aging_buckets_by_days_past_due(world: World) -> None:
    invoice = world.paid_invoice
    Invoice.objects.filter(pk=invoice.pk).update(status="finalized")  # open again, for the test
    later = invoice.due_at + timedelta(days=46)
    aging = selectors.ar_aging(later)
    assert aging == {
        "USD": {
            "not due": Decimal(0),
            "1-30 days": Decimal(0),
            "31-60 days": invoice.total.amount,
            "61-90 days": Decimal(0),
            "over 90 days": Decimal(0),
        }
    }


def _client(role: str) -> Client:
    client = Client()
    client.force_login(staff(role))
    return client


def test_the_dashboard_renders_for_finance_and_is_denied_to_support(world: World) -> None:
    url = reverse("finance-dashboard")
    page = _client(FINANCE).get(url)
    assert page.status_code == 200
    html = page.content.decode()
    for section in ("mrr", "usage", "nrr", "top", "aging", "deferred"):
        assert f'data-section="{section}"' in html
    assert "Usage revenue in USD" in html and "Top customers in USD" in html
    assert _client(SUPPORT).get(url).status_code == 403
    home = _client(FINANCE).get(reverse("admin:index")).content.decode()
    assert url in home


def test_deferred_revenue_is_filled_through_the_registry(world: World) -> None:
    def deferred(as_of: date) -> list[FinanceTable]:
        return [
            FinanceTable(
                "Deferred revenue in USD", "USD", "Month", ["Deferred"], [("2026-11", ["1234.50"])]
            )
        ]

    installed = finance_section(DEFERRED_REVENUE)  # the revenue app's
    register_finance_section(DEFERRED_REVENUE, "Deferred revenue", deferred)
    try:
        html = _client(FINANCE).get(reverse("finance-dashboard")).content.decode()
    finally:
        unregister_finance_section(DEFERRED_REVENUE)
        if installed is not None:
            register_finance_section(
                installed.key, installed.title, installed.func, explanation=installed.explanation
            )
    assert "Deferred revenue in USD" in html and "1,234.50 USD" in html
