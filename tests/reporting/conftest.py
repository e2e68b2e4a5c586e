"""A small billing world for the export tests: two customers, finalized and
paid invoices, a payment with a refund, a dispute, a credit note, a credit grant, and usage
events rolled up over two UTC days."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from accounts.models import Customer
from disputes.models import Dispute, Refund
from invoicing.models import Invoice
from invoicing.services.credit_notes import credit_note_create
from invoicing.services.credits import credit_grant_create
from metering.services import events_ingest, meter_create, rollup_drain
from tests.disputes.factories import paid_invoice_payment
from tests.factories import CustomerFactory
from tests.metering.helpers import event
from tests.stripe.sync_support import finalized_invoice

NOW = datetime(2026, 11, 10, 12, 30, tzinfo=UTC)


@dataclass
class World:
    acme: Customer
    beta: Customer
    open_invoice: Invoice
    paid_invoice: Invoice


@pytest.fixture
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=True):
        yield


def usage_events(prefix: str, day: datetime, n: int, customer: str) -> list[dict]:
    return [
        event(f"{prefix}{i}", customer=customer, at=day + timedelta(minutes=37 * i), region=r)
        for i, r in enumerate(["eu", "us", "eu", "ap"][:n])
    ]


@pytest.fixture
def world(db: None, frozen: None) -> World:
    acme = CustomerFactory(external_id="acme", name="Acme", currency="USD")
    beta = CustomerFactory(external_id="beta", name="Beta", currency="USD")
    open_invoice = finalized_invoice(acme, plan_key="exp-usd")
    paid_invoice, payment = paid_invoice_payment(beta)
    credit_note_create(
        invoice=open_invoice, reason="goodwill", outcome="reduce_amount_due", lines=None
    )
    credit_grant_create(
        customer=acme,
        kind="promotional",
        amount=Decimal("25.00"),
        currency="USD",
        effective_at=timezone.now(),
    )
    Refund.objects.create(
        payment=payment,
        invoice=paid_invoice,
        customer=beta,
        amount=Decimal("1.50"),
        currency=payment.currency,
        reason="other",
        status="succeeded",
    )
    Dispute.objects.create(
        stripe_id="dp_export1",
        payment=payment,
        customer=beta,
        amount=Decimal("9.00"),
        currency=payment.currency,
        status="needs_response",
    )
    meter_create(
        key="calls",
        name="Calls",
        event_type="api_request",
        aggregation="count",
        group_by=["region"],
    )
    yesterday = datetime(2026, 11, 9, tzinfo=UTC)
    events_ingest(api_key=None, events=usage_events("y", yesterday, 4, "acme"))
    events_ingest(api_key=None, events=usage_events("z", yesterday - timedelta(days=1), 2, "beta"))
    rollup_drain()
    return World(acme, beta, open_invoice, paid_invoice)
