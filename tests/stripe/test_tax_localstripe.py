"""Tax lines reach Stripe as items: the Stripe invoice of an invoice with two tax rates totals
exactly what Tally's does, and is charged that amount (loopback localstripe)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billingsite.money import amount_of, to_minor_units
from billingsite.outbox.services import outbox_dispatch
from invoicing.models import LineKind, StripeInvoice, TaxRate
from tests.stripe.sync_support import finalized_invoice
from tests.stripe.test_sync_localstripe import stripe_get, synced_customer

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def test_an_invoice_with_two_tax_rates_has_the_same_total_on_stripe(localstripe_settings):
    for name, rate in (("Sales tax", "7.25"), ("Telecom levy", "1.5")):
        TaxRate.objects.create(
            name=name, jurisdiction="US", rate=Decimal(rate), effective_from=date(2020, 1, 1)
        )
    customer = synced_customer(localstripe_settings, "4242424242424242")
    invoice = finalized_invoice(customer)
    taxes = list(invoice.lines.filter(kind=LineKind.TAX).order_by("position"))
    assert [t.description for t in taxes] == ["Sales tax 7.25% (US)", "Telecom levy 1.5% (US)"]
    # lines 19.99, 15.34 (calls), 0.44 (storage): 1.45 + 1.11 + 0.03; 0.30 + 0.23 + 0.01
    assert [amount_of(t.amount) for t in taxes] == [Decimal("2.59"), Decimal("0.54")]
    total = to_minor_units(amount_of(invoice.total), "USD")
    assert total == 1999 + 1534 + 44 + 259 + 54
    assert outbox_dispatch().as_dict()["sent"] == 1
    remote = stripe_get(
        localstripe_settings, f"/v1/invoices/{StripeInvoice.objects.get(invoice=invoice).stripe_id}"
    )
    assert remote["total"] == total == remote["amount_paid"]
    assert len(remote["lines"]["data"]) == invoice.lines.count()
