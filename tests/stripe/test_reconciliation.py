"""Reconciliation: a clean period records zero differences; every kind of difference (missing
on either side, amount, refunded amount, currency, status) is recorded; a Stripe failure is a
failed run, never a clean one; the command and the admin list."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from invoicing.models import Payment, ReconciliationRun, StripeInvoice
from invoicing.stripe.reconciliation import reconcile
from tests.stripe.sync_support import finalized_invoice
from tests.stripe_support import fixture_object

pytestmark = pytest.mark.django_db

START, END = datetime(2026, 2, 3, tzinfo=UTC), datetime(2026, 2, 4, tzinfo=UTC)
INSIDE = datetime(2026, 2, 3, 12, tzinfo=UTC)


def _listing(path: str, objects: list[dict]) -> dict:
    return {"object": "list", "url": path, "has_more": False, "data": objects}


@pytest.fixture
def world():
    """Two pushed invoices (one paid) and the charge that paid it, all created on 2026-02-03."""
    paid = finalized_invoice(plan_key="recon-a")
    open_ = finalized_invoice(plan_key="recon-b", calls_per_day=100)
    paid.status = "paid"
    paid.save(update_fields=["status"])
    for invoice, stripe_id, status in (
        (paid, "in_recon_paid", "paid"),
        (open_, "in_recon_open", "open"),
    ):
        StripeInvoice.objects.create(
            invoice=invoice,
            stripe_id=stripe_id,
            status=status,
            collection_method="charge_automatically",
            currency="USD",
            stripe_created=INSIDE,
        )
    Payment.objects.create(
        customer=paid.customer,
        invoice=paid,
        stripe_payment_intent_id="pi_recon",
        stripe_charge_id="ch_recon",
        currency="USD",
        amount=paid.total,
        amount_captured=paid.total,
        amount_refunded="5.00",
        status="succeeded",
        stripe_created=INSIDE,
    )
    return paid, open_


def _stripe_side(recording_client, paid, open_, **changes):
    invoices = [
        fixture_object(
            "invoice",
            id="in_recon_paid",
            total=int(paid.total.amount * 100),
            currency="usd",
            status="paid",
        ),
        fixture_object(
            "invoice",
            id="in_recon_open",
            total=int(open_.total.amount * 100),
            currency="usd",
            status="open",
        ),
        *changes.get("extra_invoices", []),
    ]
    for invoice in invoices:
        invoice.update(changes.get(invoice["id"], {}))
    charge = fixture_object(
        "charge",
        id="ch_recon",
        amount=int(paid.total.amount * 100),
        amount_captured=int(paid.total.amount * 100),
        amount_refunded=500,
        captured=True,
        currency="usd",
        status="succeeded",
        payment_intent="pi_recon",
    )
    charge.update(changes.get("ch_recon", {}))
    recording_client.on("GET", "/v1/invoices", _listing("/v1/invoices", invoices))
    recording_client.on("GET", "/v1/charges", _listing("/v1/charges", [charge]))
    # disputes registers refund and dispute sources too; none exist in this world.
    recording_client.on("GET", "/v1/refunds", _listing("/v1/refunds", []))
    recording_client.on("GET", "/v1/disputes", _listing("/v1/disputes", []))


def test_clean_period_records_zero_differences(world, recording_default_gateway, recording_client):
    _stripe_side(recording_client, *world)
    run = reconcile(start=START, end=END)
    assert run.status == "clean" and run.differences.count() == 0
    assert run.counts == {
        "charge": {"tally": 1, "stripe": 1},
        "dispute": {"tally": 0, "stripe": 0},
        "invoice": {"tally": 2, "stripe": 2},
        "refund": {"tally": 0, "stripe": 0},
    }
    [listing] = recording_client.requests_to("GET", "/v1/invoices")
    assert listing.form["created[gte]"] == str(int(START.timestamp()))
    assert listing.form["created[lt]"] == str(int(END.timestamp()))


def test_every_kind_of_difference_is_recorded(world, recording_default_gateway, recording_client):
    paid, open_ = world
    never_pushed = finalized_invoice(plan_key="recon-c", now=datetime(2026, 2, 3, 5, tzinfo=UTC))
    assert never_pushed.issued_at.date() == START.date()
    stranger = fixture_object("invoice", id="in_not_ours", total=999, currency="usd", status="open")
    _stripe_side(
        recording_client,
        paid,
        open_,
        extra_invoices=[stranger],
        in_recon_open={"status": "paid", "total": int(open_.total.amount * 100) + 1},
        in_recon_paid={"currency": "eur"},
        ch_recon={"amount_refunded": 700},
    )
    run = reconcile(start=START, end=END)
    found = {
        (d.object_type, d.kind, d.stripe_id, d.tally_value, d.stripe_value)
        for d in run.differences.all()
    }
    assert run.status == "differences"
    assert found == {
        ("invoice", "missing_in_stripe", "", str(int(never_pushed.total.amount * 100)), ""),
        ("invoice", "missing_in_tally", "in_not_ours", "", "999"),
        (
            "invoice",
            "amount",
            "in_recon_open",
            str(int(open_.total.amount * 100)),
            str(int(open_.total.amount * 100) + 1),
        ),
        ("invoice", "status", "in_recon_open", "open", "paid"),
        ("invoice", "currency", "in_recon_paid", "USD", "EUR"),
        ("charge", "amount", "ch_recon", "500", "700"),
    }
    refunded = run.differences.get(object_type="charge")
    assert refunded.details == {"ref": "pi_recon", "field": "amount_refunded"}
    missing = run.differences.get(kind="missing_in_stripe")
    assert missing.tally_ref == never_pushed.number


def test_stripe_failure_is_a_failed_run_not_a_clean_one(
    world, recording_default_gateway, recording_client
):
    recording_client.fail("GET", "/v1/invoices", kind="server_error")
    run = reconcile(start=START, end=END)
    assert run.status == "failed" and "stripe_server_error" in run.error
    assert run.differences.count() == 0 and run.finished_at is not None


def test_command_reports_and_the_admin_lists_runs(
    world, recording_default_gateway, recording_client, admin_client
):
    _stripe_side(recording_client, *world, in_recon_open={"status": "void"})
    out = StringIO()
    call_command("reconcile_stripe", "--start", "2026-02-03", "--end", "2026-02-04", stdout=out)
    run = ReconciliationRun.objects.get()
    assert (run.trigger, run.status, run.period_start, run.period_end) == (
        "command",
        "differences",
        START,
        END,
    )
    assert (
        "in_recon_open" in out.getvalue() and "status (tally open, stripe void)" in out.getvalue()
    )
    page = admin_client.get(f"/admin/invoicing/reconciliationrun/{run.pk}/change/")
    assert page.status_code == 200 and "in_recon_open" in page.content.decode()
    listing = admin_client.get("/admin/invoicing/reconciliationdifference/?kind__exact=status")
    assert "in_recon_open" in listing.content.decode()
    with pytest.raises(CommandError, match="after"):
        call_command("reconcile_stripe", "--start", "2026-02-04", "--end", "2026-02-03")
