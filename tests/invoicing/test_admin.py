"""Invoicing admin: Finance amends with a preview, Support only views; bulk finalize/void go
through a confirmation page and report per invoice; grants get their first ledger entry."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from djmoney.money import Money

from invoicing.models import CreditEntry, CreditGrant, Invoice, InvoiceTransition
from invoicing.services.billing import billing_run
from tests.invoicing.factories import make_contract
from tests.usage_sources import fixed_usage

pytestmark = pytest.mark.django_db
USAGE = fixed_usage({"api_calls": 1000})


def staff(role: str) -> User:
    call_command(
        "create_staff_user",
        "--username",
        f"u-{role}",
        "--role",
        role,
        "--password",
        "pw-long-enough-1",
    )
    return User.objects.get(username=f"u-{role}")


def usage_source():
    return USAGE


@pytest.fixture(autouse=True)
def _no_metering(settings):
    settings.INVOICING_USAGE_SOURCE = f"{__name__}.usage_source"


def test_support_views_contracts_and_invoices_but_cannot_amend(client):
    contract = make_contract()
    billing_run(now=datetime(2026, 2, 1, 1, tzinfo=UTC), usage=USAGE)
    client.force_login(staff("support"))
    assert client.get(f"/admin/invoicing/contract/{contract.pk}/change/").status_code == 200
    assert client.get("/admin/invoicing/invoice/").status_code == 200
    assert client.get(f"/admin/invoicing/contract/{contract.pk}/amend/").status_code == 403
    response = client.post(
        "/admin/invoicing/invoice/",
        {
            "action": "void_invoices",
            "_selected_action": [Invoice.objects.get().pk],
            "confirm": "yes",
            "reason": "x",
        },
    )
    assert Invoice.objects.get().status == "draft"
    assert response.status_code in (200, 302)


def test_finance_previews_then_saves_an_amendment(client):
    contract = make_contract()
    client.force_login(staff("finance"))
    form = {
        "effective_date": "2026-01-16",
        "override_charge_key": "api_calls",
        "override_kind": "multiplier",
        "override_multiplier": "0.5",
        "discount_duration": "recurring",
    }
    url = f"/admin/invoicing/contract/{contract.pk}/amend/"
    preview = client.post(url, {**form, "preview": "1"})
    assert preview.status_code == 200
    assert "Difference" in preview.content.decode()
    assert not contract.overrides.exists()
    saved = client.post(url, {**form, "save": "1"})
    assert saved.status_code == 302
    override = contract.overrides.get()
    assert (override.multiplier, override.effective_from) == (Decimal("0.5"), date(2026, 1, 16))
    assert contract.amendments.get().created_by.username == "u-finance"


def test_finance_bulk_finalize_and_void_with_confirmation(client):
    make_contract()
    make_contract()
    billing_run(now=datetime(2026, 2, 1, 1, tzinfo=UTC), usage=USAGE)
    ids = list(Invoice.objects.values_list("pk", flat=True))
    client.force_login(staff("finance"))
    confirm = client.post(
        "/admin/invoicing/invoice/", {"action": "finalize_now", "_selected_action": ids}
    )
    assert b"Yes, I&#x27;m sure" in confirm.content or b"Yes, I'm sure" in confirm.content
    assert set(Invoice.objects.values_list("status", flat=True)) == {"draft"}
    done = client.post(
        "/admin/invoicing/invoice/",
        {"action": "finalize_now", "_selected_action": ids, "confirm": "yes"},
    )
    assert done.status_code == 200
    assert "finalized as INV-000001" in done.content.decode()
    assert set(Invoice.objects.values_list("status", flat=True)) == {"finalized"}

    no_reason = client.post(
        "/admin/invoicing/invoice/",
        {"action": "void_invoices", "_selected_action": ids[:1], "confirm": "yes"},
    )
    assert b"Reason" in no_reason.content
    client.post(
        "/admin/invoicing/invoice/",
        {
            "action": "void_invoices",
            "_selected_action": ids[:1],
            "confirm": "yes",
            "reason": "Billed the wrong entity",
        },
    )
    voided = Invoice.objects.get(pk=ids[0])
    assert (voided.status, voided.void_reason) == ("void", "Billed the wrong entity")
    audit = InvoiceTransition.objects.get(invoice=voided, to_status="void")
    assert audit.actor.username == "u-finance"


def test_finance_adds_a_grant_with_its_first_ledger_entry(client):
    contract = make_contract()
    client.force_login(staff("finance"))
    response = client.post(
        "/admin/invoicing/creditgrant/add/",
        {
            "customer": contract.customer.pk,
            "kind": "promotional",
            "amount": "40.00",
            "currency": "USD",
            "effective_at_0": "2026-01-01",
            "effective_at_1": "00:00:00",
            "priority": "10",
            "note": "Goodwill",
            "entries-TOTAL_FORMS": "0",
            "entries-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:3000]
    grant = CreditGrant.objects.get()
    assert grant.created_by.username == "u-finance"
    assert (grant.currency, grant.amount) == ("USD", Money(Decimal("40.00"), "USD"))
    assert list(CreditEntry.objects.values_list("kind", "amount")) == [
        ("grant", Decimal("40.0000"))
    ]


def test_finance_issues_a_full_credit_note_from_the_admin(client):
    make_contract()
    billing_run(now=datetime(2026, 2, 3, tzinfo=UTC), usage=USAGE)
    invoice = Invoice.objects.get()
    client.force_login(staff("finance"))
    page = client.post(
        "/admin/invoicing/invoice/", {"action": "credit_in_full", "_selected_action": [invoice.pk]}
    )
    assert b"Where the credit goes" in page.content
    done = client.post(
        "/admin/invoicing/invoice/",
        {
            "action": "credit_in_full",
            "_selected_action": [invoice.pk],
            "confirm": "yes",
            "reason": "Service outage",
            "outcome": "reduce_amount_due",
        },
    )
    assert "credit note CN-000001 for 110" in done.content.decode()
    assert invoice.credit_notes.get().created_by.username == "u-finance"
    assert client.get(f"/admin/invoicing/invoice/{invoice.pk}/change/").status_code == 200
