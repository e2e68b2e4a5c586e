"""Corrections in the invoice admin: void and re-issue, re-issue voided invoices (bulk and from
the invoice page), replaces/replaced-by links, credit notes by line with a preview. Finance
may, Support sees but is refused; every failure is reported per invoice."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.management import call_command

from invoicing.models import CreditNote, Invoice, InvoiceKind, InvoiceTransition
from invoicing.services.billing import billing_run
from invoicing.services.credit_notes import invoice_amount_due
from invoicing.services.invoices import invoice_mark_paid, invoice_void
from tests.invoicing.factories import make_contract
from tests.usage_sources import fixed_usage

pytestmark = pytest.mark.django_db
USAGE = fixed_usage({"api_calls": 1000})  # 100.00 platform fee + 10.00 usage
CHANGELIST = "/admin/invoicing/invoice/"
NOW = datetime(2026, 2, 3, tzinfo=UTC)


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


def issued(count: int = 1) -> list[Invoice]:
    for _ in range(count):
        make_contract()
    billing_run(now=NOW, usage=USAGE)
    invoices = list(Invoice.objects.order_by("pk"))
    assert {i.status for i in invoices} == {"finalized"}
    return invoices


def test_finance_voids_and_reissues_in_bulk_with_a_reason_and_results_per_invoice(client):
    first, second = issued(2)
    invoice_mark_paid(invoice=second, now=NOW)
    client.force_login(staff("finance"))
    ids = [first.pk, second.pk]
    page = client.post(CHANGELIST, {"action": "void_and_reissue", "_selected_action": ids})
    body = page.content.decode()
    assert "Reason" in body and 'name="finalize"' in body
    assert not Invoice.objects.filter(status="void").exists()

    done = client.post(
        CHANGELIST,
        {
            "action": "void_and_reissue",
            "_selected_action": ids,
            "confirm": "yes",
            "reason": "Wrong billing entity",
            "finalize": "yes",
        },
    )
    body = done.content.decode()
    assert "voided; re-issued as INV-000003 (110.00 USD)" in body
    assert (
        "not re-issued: Invoice INV-000002 cannot go from paid to void. A paid invoice is "
        "voided by refunding it in full"
    ) in body
    first.refresh_from_db()
    assert (first.status, first.void_reason) == ("void", "Wrong billing entity")
    replacement = Invoice.objects.get(replaces=first)
    assert (replacement.kind, replacement.status, replacement.number, replacement.total.amount) == (
        InvoiceKind.REISSUE,
        "finalized",
        "INV-000003",
        Decimal("110.00"),
    )
    assert Invoice.objects.get(pk=second.pk).status == "paid"
    audit = InvoiceTransition.objects.filter(invoice=replacement).order_by("pk")
    assert [(t.actor.username, t.to_status) for t in audit] == [
        ("u-finance", "draft"),
        ("u-finance", "finalized"),
    ]
    assert audit[0].reason == "Re-issue of INV-000001 (voided: Wrong billing entity)"
    void = InvoiceTransition.objects.get(invoice=first, to_status="void")
    assert (void.actor.username, void.reason) == ("u-finance", "Wrong billing entity")


def test_void_and_reissue_needs_a_reason(client):
    (invoice,) = issued()
    client.force_login(staff("finance"))
    response = client.post(
        CHANGELIST,
        {
            "action": "void_and_reissue",
            "_selected_action": [invoice.pk],
            "confirm": "yes",
            "reason": "   ",
        },
    )
    assert b"Reason (required" in response.content
    assert Invoice.objects.get().status == "finalized"


def test_reissue_voided_reports_each_invoice_and_leaves_drafts_to_the_billing_run(client):
    voided, open_invoice = issued(2)
    invoice_void(invoice=voided, reason="Duplicate", now=NOW)
    client.force_login(staff("finance"))
    ids = [voided.pk, open_invoice.pk]
    with time_machine.travel(NOW, tick=False):
        confirm = client.post(CHANGELIST, {"action": "reissue_voided", "_selected_action": ids})
        assert b"Issue replacements for these voided invoices?" in confirm.content
        assert not Invoice.objects.filter(kind="reissue").exists()
        done = client.post(
            CHANGELIST, {"action": "reissue_voided", "_selected_action": ids, "confirm": "yes"}
        ).content.decode()
        again = client.post(
            CHANGELIST,
            {"action": "reissue_voided", "_selected_action": [voided.pk], "confirm": "yes"},
        ).content.decode()
    replacement = Invoice.objects.get(replaces=voided)
    assert replacement.status == "draft"
    assert f"replacement draft #{replacement.pk} created" in done
    assert "not re-issued: Only a voided invoice can be re-issued." in done
    assert "not re-issued: Invoice INV-000001 was re-issued already." in again
    assert Invoice.objects.filter(replaces=voided).count() == 1
    # The draft is due at once: the next billing run issues it.
    billing_run(now=datetime(2026, 2, 4, tzinfo=UTC), usage=USAGE)
    replacement.refresh_from_db()
    assert (replacement.status, replacement.number) == ("finalized", "INV-000003")


def test_reissue_button_on_a_voided_invoice_and_links_both_ways(client):
    (invoice,) = issued()
    invoice_void(invoice=invoice, reason="Wrong PO number", now=NOW)
    client.force_login(staff("finance"))
    page = client.get(f"/admin/invoicing/invoice/{invoice.pk}/change/").content.decode()
    url = f"/admin/invoicing/invoice/{invoice.pk}/reissue/"
    assert f'href="{url}"' in page and "Re-issue…" in page
    form = client.get(url).content.decode()
    assert "Wrong PO number" in form and "Yes, re-issue" in form and 'name="reason"' not in form
    response = client.post(url, {"finalize": "on"})
    replacement = Invoice.objects.get(replaces=invoice)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/invoicing/invoice/{replacement.pk}/change/"
    assert replacement.number == "INV-000002"

    new_page = client.get(response["Location"]).content.decode()
    assert f'/admin/invoicing/invoice/{invoice.pk}/change/">INV-000001 (Void)' in new_page
    old_page = client.get(f"/admin/invoicing/invoice/{invoice.pk}/change/").content.decode()
    assert f'/admin/invoicing/invoice/{replacement.pk}/change/">INV-000002' in old_page
    assert f'href="{url}"' not in old_page  # re-issued once: no button any more
    second = client.post(url, {"finalize": "on"})
    assert b"was re-issued already" in second.content
    assert Invoice.objects.filter(replaces=invoice).count() == 1


def test_void_and_reissue_from_the_invoice_page_asks_for_a_reason(client):
    (invoice,) = issued()
    client.force_login(staff("finance"))
    url = f"/admin/invoicing/invoice/{invoice.pk}/reissue/"
    page = client.get(f"/admin/invoicing/invoice/{invoice.pk}/change/").content.decode()
    assert "Void and re-issue…" in page
    refused = client.post(url, {"reason": ""})
    assert refused.status_code == 200 and b"This field is required" in refused.content
    assert Invoice.objects.get().status == "finalized"
    client.post(url, {"reason": "Customer changed legal entity"})
    invoice.refresh_from_db()
    assert (invoice.status, invoice.void_reason) == ("void", "Customer changed legal entity")
    assert Invoice.objects.get(replaces=invoice).status == "draft"  # finalize left unticked


def test_support_sees_invoices_but_cannot_reissue_or_credit(client):
    (invoice,) = issued()
    invoice_void(invoice=invoice, reason="Duplicate", now=NOW)
    client.force_login(staff("support"))
    page = client.get(f"/admin/invoicing/invoice/{invoice.pk}/change/")
    assert page.status_code == 200
    assert b"/reissue/" not in page.content and b"Re-issue" not in page.content
    assert client.get(f"/admin/invoicing/invoice/{invoice.pk}/reissue/").status_code == 403
    assert (
        client.post(
            f"/admin/invoicing/invoice/{invoice.pk}/reissue/", {"finalize": "on"}
        ).status_code
        == 403
    )
    assert client.get(f"/admin/invoicing/invoice/{invoice.pk}/credit-note/").status_code == 403
    for action in ("reissue_voided", "void_and_reissue"):
        client.post(
            CHANGELIST,
            {
                "action": action,
                "_selected_action": [invoice.pk],
                "confirm": "yes",
                "reason": "x",
                "finalize": "yes",
            },
        )
    assert not Invoice.objects.filter(replaces=invoice).exists()
    changelist = client.get(CHANGELIST).content.decode()
    assert "reissue_voided" not in changelist and "void_and_reissue" not in changelist


def test_finance_credits_one_line_partly_after_a_preview_of_the_effect(client):
    (invoice,) = issued()
    fee = invoice.lines.get(kind="fixed")
    usage = invoice.lines.get(kind="usage")
    client.force_login(staff("finance"))
    page = client.get(f"/admin/invoicing/invoice/{invoice.pk}/change/").content.decode()
    url = f"/admin/invoicing/invoice/{invoice.pk}/credit-note/"
    assert f'href="{url}"' in page
    form = client.get(url).content.decode()
    assert "reduce_amount_due" in form and 'value="refund"' not in form
    data = {"reason": "Outage on Jan 3", "outcome": "reduce_amount_due", f"line_{fee.pk}": "25.00"}
    preview = client.post(url, {**data, "preview": "1"}).content.decode()
    assert "Confirm the credit note" in preview
    assert "the amount due goes from 110.00 USD to <strong>85.00 USD</strong>" in preview
    assert not CreditNote.objects.exists()  # the preview wrote nothing...
    done = client.post(url, {**data, "issue": "1"})
    note = CreditNote.objects.get()
    assert done.status_code == 302
    assert done["Location"] == f"/admin/invoicing/creditnote/{note.pk}/change/"
    # ... and took no number: the real note is the first of its series.
    assert (note.number, note.total.amount, note.created_by.username) == (
        "CN-000001",
        Decimal("25.00"),
        "u-finance",
    )
    assert [(line.invoice_line_id, line.amount.amount) for line in note.lines.all()] == [
        (fee.pk, Decimal("25.00"))
    ]
    assert invoice_amount_due(invoice) == Decimal("85.00")

    too_much = client.post(
        url,
        {
            "reason": "r",
            "outcome": "reduce_amount_due",
            f"line_{usage.pk}": "10.01",
            "preview": "1",
        },
    ).content.decode()
    assert "The credit note is not valid." in too_much
    assert "of this line is left to credit." in too_much
    nothing = client.post(url, {"reason": "r", "outcome": "reduce_amount_due", "preview": "1"})
    assert "Tick “Credit everything”" in nothing.content.decode()
    assert CreditNote.objects.count() == 1


def test_paid_invoice_credit_becomes_a_grant_and_points_to_refunds(client):
    (invoice,) = issued()
    invoice_mark_paid(invoice=invoice, now=NOW)
    client.force_login(staff("finance"))
    url = f"/admin/invoicing/invoice/{invoice.pk}/credit-note/"
    form = client.get(url).content.decode()
    assert "Request a refund" in form and 'value="reduce_amount_due"' not in form
    refused = client.post(
        url, {"reason": "x", "outcome": "reduce_amount_due", "full": "on", "preview": "1"}
    )
    assert b"Select a valid choice" in refused.content
    data = {"reason": "Goodwill", "outcome": "customer_credit", "full": "on"}
    preview = client.post(url, {**data, "preview": "1"}).content.decode()
    assert "gets a paid credit grant of <strong>110.00 USD</strong>" in preview
    client.post(url, {**data, "issue": "1"})
    note = CreditNote.objects.get()
    assert (note.outcome, note.total.amount, note.credit_grant.amount.amount) == (
        "customer_credit",
        Decimal("110.00"),
        Decimal("110.00"),
    )


def test_credit_notes_list_searches_and_filters(client):
    first, second = issued(2)
    client.force_login(staff("finance"))
    for invoice, reason in ((first, "Outage"), (second, "Goodwill")):
        client.post(
            f"/admin/invoicing/invoice/{invoice.pk}/credit-note/",
            {"reason": reason, "outcome": "reduce_amount_due", "full": "on", "issue": "1"},
        )
    assert CreditNote.objects.count() == 2
    client.force_login(staff("support"))
    listing = client.get(
        "/admin/invoicing/creditnote/", {"q": first.customer.external_id}
    ).content.decode()
    assert "CN-000001</a>" in listing and "CN-000002</a>" not in listing
    by_outcome = client.get(
        "/admin/invoicing/creditnote/", {"outcome__exact": "customer_credit"}
    ).content.decode()
    assert "CN-000001</a>" not in by_outcome and "0 credit notes" in by_outcome
