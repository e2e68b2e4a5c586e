"""The preview equals the invoice: credits are judged as of the period's end for both.

A grant pays an invoice when it is in effect before the period ends and has not expired by
then (``invoicing.selectors.credits.credits_as_of``), whenever the invoice is computed: the
upcoming-invoice preview in the middle of the period, the draft, or the finalization after the
grace hours (by which time the billing run may have posted the grant's expiry)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invoicing.models import CreditEntry, Invoice
from invoicing.selectors.credits import grant_balance
from invoicing.selectors.invoices import upcoming_invoice
from invoicing.services.billing import billing_run
from invoicing.services.credits import credit_expire, credit_grant_create
from invoicing.states import InvoiceStatus
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract
from tests.usage_sources import fixed_usage

pytestmark = pytest.mark.django_db

MARCH = datetime(2026, 3, 1, tzinfo=UTC)
APRIL = datetime(2026, 4, 1, tzinfo=UTC)  # March's end; invoices finalize 24 h later
USAGE = {"api_calls": 250}  # 100.00 platform fee + 250 * 0.01


def _march_customer():  # type: ignore[no-untyped-def]
    customer = CustomerFactory(external_id="acme", currency="USD")
    make_contract(customer, start=date(2026, 3, 1))
    return customer


def _promo(customer, *, effective_at: datetime, expires_at: datetime | None):  # type: ignore[no-untyped-def]
    return credit_grant_create(
        customer=customer,
        kind="promotional",
        amount="5.00",
        currency="USD",
        effective_at=effective_at,
        expires_at=expires_at,
    )


def usage_source():  # type: ignore[no-untyped-def]
    return fixed_usage(USAGE)


def _preview_total(read_api, settings, when: datetime) -> Decimal:  # type: ignore[no-untyped-def]
    settings.INVOICING_USAGE_SOURCE = f"{__name__}.usage_source"
    with time_machine.travel(when, tick=False):
        response = read_api.get("/api/v1/customers/acme/invoices/upcoming")
    assert response.status_code == 200, response.content
    return Decimal(response.json()["total"])


def _bill_march(*runs: datetime) -> Invoice:
    for now in runs:
        billing_run(now=now, usage=fixed_usage(USAGE))
    invoice = Invoice.objects.get(period_start=MARCH)
    assert invoice.status == InvoiceStatus.FINALIZED
    return invoice


def test_a_grant_expiring_mid_period_is_in_neither_preview_nor_invoice(read_api, settings):
    customer = _march_customer()
    _promo(customer, effective_at=MARCH, expires_at=datetime(2026, 3, 15, tzinfo=UTC))
    preview = _preview_total(read_api, settings, datetime(2026, 3, 10, 12, tzinfo=UTC))
    invoice = _bill_march(APRIL + timedelta(hours=1), APRIL + timedelta(hours=25))
    assert invoice.total.amount == Decimal("102.50")
    assert preview == invoice.total.amount
    assert not invoice.lines.filter(kind="credit").exists()


def test_a_grant_expiring_after_the_period_pays_it_though_finalized_after_expiry(
    read_api, settings
):
    """Expiry inside the grace hours: the run posts the expiry before it finalizes, and the
    invoice still draws what the preview showed (an ``expiry`` entry undoes the part drawn)."""
    customer = _march_customer()
    grant = _promo(customer, effective_at=MARCH, expires_at=APRIL + timedelta(hours=12))
    preview = _preview_total(read_api, settings, datetime(2026, 3, 10, 12, tzinfo=UTC))
    invoice = _bill_march(APRIL + timedelta(hours=1), APRIL + timedelta(hours=25))
    assert preview == invoice.total.amount == Decimal("97.50")
    assert grant_balance(grant.pk) == Decimal("0")
    entries = CreditEntry.objects.filter(grant=grant).order_by("pk")
    assert [(e.kind, e.amount.amount) for e in entries] == [
        ("grant", Decimal("5.00")),
        ("expiry", Decimal("-5.00")),
        ("expiry", Decimal("5.00")),
        ("drawdown", Decimal("-5.00")),
    ]
    call_command("check_invariants", "--only", "credit_balances")  # exits 1 if broken


@contextmanager
def rolled_back() -> Iterator[None]:
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


HOUR = timedelta(hours=1)


@st.composite
def grant_timelines(draw: st.DrawFn) -> dict:
    """Grants placed anywhere around March (from 40 days before to 40 days after its start),
    a preview instant inside March, and billing runs at varying delays after its end."""
    grants = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        effective = MARCH + HOUR * draw(st.integers(min_value=-40 * 24, max_value=40 * 24))
        lasts = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=40 * 24)))
        amount = Decimal(draw(st.integers(min_value=1, max_value=4000))).scaleb(-2)
        grants.append((effective, None if lasts is None else effective + HOUR * lasts, amount))
    return {
        "grants": grants,
        "preview_at": MARCH + HOUR * draw(st.integers(min_value=0, max_value=31 * 24 - 1)),
        "draft_after": HOUR * draw(st.integers(min_value=0, max_value=23)),
        "finalize_after": HOUR * draw(st.integers(min_value=24, max_value=24 * 5)),
    }


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(grant_timelines())
def test_preview_equals_the_finalized_invoice_wherever_grants_start_and_expire(case: dict):
    usage = fixed_usage(USAGE)
    with rolled_back():
        customer = CustomerFactory(currency="USD")
        make_contract(customer, start=date(2026, 3, 1))
        for effective, expires, amount in case["grants"]:
            credit_grant_create(
                customer=customer,
                kind="promotional",
                amount=amount,
                currency="USD",
                effective_at=effective,
                expires_at=expires,
            )
        credit_expire(now=case["preview_at"])  # what beat has posted by the preview
        _contract, preview = upcoming_invoice(customer, at=case["preview_at"], usage=usage)
        billing_run(now=APRIL + case["draft_after"], usage=usage)
        billing_run(now=APRIL + case["finalize_after"], usage=usage)
        invoice = Invoice.objects.get(customer=customer, period_start=MARCH)
        assert invoice.status == InvoiceStatus.FINALIZED
        assert preview.total == invoice.total.amount
        credits = sorted(-line.amount for line in preview.lines if line.kind == "credit")
        drawn = sorted(-e.amount.amount for e in CreditEntry.objects.filter(kind="drawdown"))
        assert credits == drawn
        for grant in customer.credit_grants.all():
            assert grant_balance(grant.pk) >= 0
