"""The billing run end to end with explicit usage: drafts, grace, finalization, numbering."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from invoicing.models import Invoice, InvoiceLine, InvoiceNumberCounter
from invoicing.models.invoices import FrozenInvoiceError
from invoicing.services.billing import billing_run
from invoicing.states import InvoiceStatus
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract
from tests.usage_sources import fixed_usage

pytestmark = pytest.mark.django_db
USAGE = fixed_usage({"api_calls": 1000})


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_nothing_is_drafted_before_the_period_ends():
    make_contract()
    result = billing_run(now=at(2026, 1, 31, 23, 59), usage=USAGE)
    assert result.drafted == 0
    assert not Invoice.objects.exists()


def test_draft_then_refresh_then_finalize_after_grace():
    contract = make_contract()
    first = billing_run(now=at(2026, 2, 1, 0, 5), usage=USAGE)
    assert (first.drafted, first.finalized) == (1, 0)
    invoice = Invoice.objects.get()
    assert invoice.status == InvoiceStatus.DRAFT
    assert (invoice.period_start, invoice.period_end) == (at(2026, 1, 1), at(2026, 2, 1))
    assert invoice.finalize_after == at(2026, 2, 2)
    assert invoice.total.amount == Decimal("110.00")
    assert [(ln.kind, ln.amount.amount) for ln in invoice.lines.all()] == [
        ("fixed", Decimal("100.00")),
        ("usage", Decimal("10.00")),
    ]

    late = fixed_usage({"api_calls": 1500})
    refreshed = billing_run(now=at(2026, 2, 1, 12), usage=late)
    assert refreshed.refreshed == 1
    invoice.refresh_from_db()
    assert invoice.total.amount == Decimal("115.00")

    final = billing_run(now=at(2026, 2, 2, 0, 1), usage=late)
    assert final.finalized == 1
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.FINALIZED
    assert invoice.number == "INV-000001"
    assert invoice.issued_at == at(2026, 2, 2, 0, 1)
    assert invoice.due_at == at(2026, 3, 4, 0, 1)  # net 30
    assert invoice.pdf.read().startswith(b"%PDF")
    assert invoice.total == sum(ln.amount for ln in invoice.lines.all())
    assert contract.invoices.count() == 1


def test_usage_line_explains_itself():
    make_contract()
    billing_run(now=at(2026, 2, 1, 1), usage=USAGE)
    line = InvoiceLine.objects.get(kind="usage")
    assert line.meter_key == "api_calls"
    assert line.charge_key == "api_calls"
    assert line.quantity == Decimal(1000)
    assert line.price == {"model": "per_unit", "unit_amount": "0.01"}
    assert line.breakdown == [
        {"type": "per_unit", "units": "1000", "unit_amount": "0.01", "amount": "10.00"}
    ]
    assert (line.period_start, line.period_end) == (at(2026, 1, 1), at(2026, 2, 1))
    assert line.details["amount_unrounded"] == "10.00"


def test_rerunning_changes_nothing():
    make_contract()
    billing_run(now=at(2026, 2, 1, 1), usage=USAGE)
    before = list(InvoiceLine.objects.values_list("pk", "amount").order_by("pk"))
    stamp = Invoice.objects.get().refreshed_at
    again = billing_run(now=at(2026, 2, 1, 2), usage=USAGE)
    assert (again.drafted, again.refreshed, again.finalized) == (0, 0, 0)
    assert list(InvoiceLine.objects.values_list("pk", "amount").order_by("pk")) == before
    assert Invoice.objects.get().refreshed_at == stamp
    billing_run(now=at(2026, 2, 3), usage=USAGE)
    billing_run(now=at(2026, 2, 3), usage=fixed_usage({"api_calls": 99}))
    invoice = Invoice.objects.get()
    assert (invoice.status, invoice.total.amount) == ("finalized", Decimal("110.00"))


def test_catches_up_on_missed_periods_with_gapless_numbers():
    make_contract()
    make_contract(start=date(2026, 1, 15), anchor=15)
    result = billing_run(now=at(2026, 4, 20), usage=USAGE)
    # contract 1: Jan, Feb, Mar; contract 2: Jan 15-Feb 15, Feb 15-Mar 15, Mar 15-Apr 15.
    assert result.drafted == 6
    assert result.finalized == 6
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"INV-{n:06d}" for n in range(1, 7)]
    assert InvoiceNumberCounter.objects.get(series="INV").last_value == 6


def test_grace_hours_come_from_the_customer():
    customer = CustomerFactory(invoice_grace_hours=2)
    make_contract(customer)
    billing_run(now=at(2026, 2, 1, 1), usage=USAGE)
    assert Invoice.objects.get().status == "draft"
    billing_run(now=at(2026, 2, 1, 2), usage=USAGE)
    assert Invoice.objects.get().status == "finalized"


def test_contract_ending_mid_period_prorates_and_stops():
    make_contract(start=date(2026, 1, 1), end=date(2026, 2, 15))
    billing_run(now=at(2026, 6, 1), usage=USAGE)
    invoices = list(Invoice.objects.order_by("period_start"))
    assert len(invoices) == 2
    fee = invoices[1].lines.get(kind="fixed")
    assert fee.amount.amount == Decimal("50.00")  # 14 of 28 February days
    assert fee.details["days_used"] == 14
    assert "prorated 14/28 days" in fee.description


def test_mid_period_start_prorates_first_fixed_fee():
    make_contract(start=date(2026, 1, 20), anchor=1)
    billing_run(now=at(2026, 2, 1, 1), usage=USAGE)
    fee = InvoiceLine.objects.get(kind="fixed")
    assert fee.amount.amount == Decimal("38.71")  # 100 * 12 / 31 = 38.709...
    assert fee.details["amount_unrounded"].startswith("38.709677")
    assert fee.period_start == at(2026, 1, 20)


def test_finalized_invoice_cannot_change():
    make_contract()
    billing_run(now=at(2026, 2, 3), usage=USAGE)
    invoice = Invoice.objects.get()
    line = invoice.lines.first()
    line.invoice = invoice
    with pytest.raises(FrozenInvoiceError):
        line.save()
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceLine.objects.filter(pk=line.pk).update(amount=Decimal("1.00"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(total=Decimal("1.00"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceLine.objects.bulk_create(
            [
                InvoiceLine(
                    invoice=invoice,
                    currency=invoice.currency,
                    position=99,
                    kind="fixed",
                    description="x",
                    period_start=invoice.period_start,
                    period_end=invoice.period_end,
                    amount=Decimal(1),
                )
            ]
        )  # bulk_create skips the model guard: the trigger still refuses
    invoice.refresh_from_db()
    assert invoice.total.amount == Decimal("110.00")


def test_new_york_period_ends_at_local_midnight_across_dst():
    make_contract(start=date(2026, 3, 1), tz="America/New_York")
    assert billing_run(now=at(2026, 4, 1, 3, 59), usage=USAGE).drafted == 0  # 23:59 EDT
    assert billing_run(now=at(2026, 4, 1, 4, 0), usage=USAGE).drafted == 1  # midnight EDT
    invoice = Invoice.objects.get()
    assert (invoice.period_start, invoice.period_end) == (at(2026, 3, 1, 5), at(2026, 4, 1, 4))
    assert invoice.lines.get(kind="fixed").amount.amount == Decimal("100.00")  # whole local month


def test_berlin_anchor_31_month_end_periods():
    make_contract(start=date(2026, 1, 31), anchor=31, tz="Europe/Berlin")
    billing_run(now=at(2026, 4, 5), usage=USAGE)
    periods = list(
        Invoice.objects.order_by("period_start").values_list("period_start", "period_end")
    )
    assert periods == [
        (at(2026, 1, 30, 23), at(2026, 2, 27, 23)),  # Jan 31 - Feb 28, CET
        (at(2026, 2, 27, 23), at(2026, 3, 30, 22)),  # Feb 28 - Mar 31, into CEST
    ]
    fees = (
        InvoiceLine.objects.filter(kind="fixed")
        .order_by("invoice__period_start")
        .values_list("amount", "details")
    )
    assert [(amount, details["days_in_period"]) for amount, details in fees] == [
        (Decimal("100.00"), 28),
        (Decimal("100.00"), 31),
    ]


def test_metrics_count_finalizations_and_report_drafts(django_capture_on_commit_callbacks):
    from invoicing.metrics import INVOICES_FINALIZED, invoicing_gauges

    make_contract()
    billing_run(now=at(2026, 2, 1, 1), usage=USAGE)
    gauge = {s.labels["state"]: s.value for s in next(iter(invoicing_gauges())).samples}
    assert gauge == {"in_grace": 0, "overdue": 1}  # finalize_after (Feb 2) is past by now
    before = INVOICES_FINALIZED._value.get()
    with django_capture_on_commit_callbacks(execute=True):
        billing_run(now=at(2026, 2, 3), usage=USAGE)
    assert INVOICES_FINALIZED._value.get() == before + 1
    gauge = {s.labels["state"]: s.value for s in next(iter(invoicing_gauges())).samples}
    assert gauge == {"in_grace": 0, "overdue": 0}
