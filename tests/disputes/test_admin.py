"""Admin pages: request and approve a refund, the SLA batch (dry run then apply), reports with
CSV, the dispute queue, evidence packet, draft and submission (audited, via the outbox)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import UsagePageSignIn
from billingsite.display import money_text
from billingsite.outbox.models import OutboxMessage
from disputes.models import Dispute, DisputeEvidenceSubmission, Refund
from disputes.services.refund_sync import refund_apply_stripe
from metering.models import Meter, MeterVersion, UsageEvent
from tests.disputes.factories import paid_invoice_payment, staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid():
    return paid_invoice_payment()


def test_agent_requests_and_finance_approves_in_the_admin(client, paid, settings):
    settings.REFUND_APPROVAL_THRESHOLD = Decimal("1.00")
    invoice, payment = paid
    agent, approver = staff("support"), staff("finance")
    client.force_login(agent)
    page = client.get(f"/admin/disputes/refund/request/invoice/{invoice.pk}/", follow=True)
    captured = money_text(payment.amount_captured, payment.currency)  # "35.77 USD", not 35.7700
    assert page.status_code == 200 and f"Captured {captured}" in page.content.decode()
    response = client.post(
        f"/admin/disputes/refund/request/{payment.pk}/",
        {
            "amount": "5.00",
            "reason": "service_issue",
            "reason_text": "outage on the 3rd",
            "internal_note": "ticket 42",
        },
        follow=True,
    )
    assert "waits for a Finance approver" in response.content.decode()
    refund = Refund.objects.get()
    assert (refund.status, refund.requested_by, refund.internal_note) == (
        "requested",
        agent,
        "ticket 42",
    )
    assert (
        client.post(
            f"/admin/disputes/refund/{refund.pk}/decide/approve/", {"confirm": "yes"}
        ).status_code
        == 403  # refused before the refund is looked up
    )
    assert Refund.objects.get().status == "requested"  # support cannot approve
    client.force_login(approver)
    confirm = client.get(f"/admin/disputes/refund/{refund.pk}/decide/approve/")
    assert "Yes, approve" in confirm.content.decode()
    client.post(f"/admin/disputes/refund/{refund.pk}/decide/approve/", {"confirm": "yes"})
    refund.refresh_from_db()
    assert (refund.status, refund.approved_by) == ("approved", approver)
    history = client.get(f"/admin/disputes/refund/{refund.pk}/change/").content.decode()
    assert "requested" in history and "approved" in history


def test_request_form_shows_why_a_refund_is_refused(client, paid):
    _, payment = paid
    client.force_login(staff("support"))
    response = client.post(
        f"/admin/disputes/refund/request/{payment.pk}/",
        {"amount": str(payment.amount_captured.amount + 1), "reason": "other"},
    )
    assert "left to refund" in response.content.decode() and not Refund.objects.exists()


def test_sla_batch_dry_run_changes_nothing_then_apply_refunds_each_row_once(client, paid):
    invoice, _ = paid
    client.force_login(staff("support"))
    csv_text = (
        f"customer,amount,reason\n{invoice.customer.external_id},2.00,March outage\n"
        "nobody,1.00,x\n"
        f"{invoice.customer.external_id},abc,bad\n"
    )

    def upload(apply: bool):
        data = {"file": SimpleUploadedFile("sla.csv", csv_text.encode()), "batch_ref": "mar26"}
        if apply:
            data["apply"] = "on"
        return client.post("/admin/disputes/refund/sla-batch/", data).content.decode()

    preview = upload(False)
    assert "would refund" in preview and "unknown customer" in preview
    assert "not an amount" in preview and not Refund.objects.exists()
    applied = upload(True)
    refund = Refund.objects.get()
    assert f"refund #{refund.pk}" in applied and refund.amount.amount == Decimal("2.00")
    assert (refund.source, refund.reason, refund.reason_text) == (
        "sla_batch",
        "sla_credit",
        "March outage",
    )
    again = upload(True)
    assert "already refunded in this batch" in again and Refund.objects.count() == 1


def test_reports_page_and_csv(client, paid):
    _, payment = paid
    client.force_login(staff("finance"))
    refund = Refund.objects.create(
        payment=payment,
        customer=payment.customer,
        amount=3,
        currency=payment.currency,
        reason="billing_error",
        status="approved",
    )
    refund_apply_stripe({"id": "re_rep", "status": "succeeded"}, at=None, refund_id=refund.pk)
    Dispute.objects.create(
        stripe_id="dp_r1",
        payment=payment,
        customer=payment.customer,
        amount=1,
        currency="USD",
        status="won",
        closed_at=timezone.now(),
    )
    day = timezone.now().date()
    query = f"?start={day - timedelta(days=1)}&end={day + timedelta(days=1)}"
    html = client.get("/admin/disputes/refund/reports/" + query).content.decode()
    assert "billing_error" in html
    csv_body = client.get("/admin/disputes/refund/reports/" + query + "&format=csv")
    lines = csv_body.content.decode().splitlines()
    assert "disputes,dispute_rate,,,1.0000" in lines and "disputes,win_rate,,,1.0000" in lines
    assert f"refunds_by_reason,billing_error,{payment.currency},1,3.0000" in lines


def _dispute(payment, **extra) -> Dispute:
    return Dispute.objects.create(
        stripe_id=extra.pop("stripe_id", "dp_adm"),
        stripe_charge_id=payment.stripe_charge_id,
        payment=payment,
        invoice=payment.invoice,
        customer=payment.customer,
        amount=Decimal("10.00"),
        currency=payment.currency,
        reason="fraudulent",
        status="needs_response",
        **extra,
    )


def test_queue_orders_by_due_date_and_assigns(client, paid):
    _, payment = paid
    now = timezone.now()
    late = _dispute(payment, stripe_id="dp_late", due_by=now + timedelta(days=9))
    soon = _dispute(payment, stripe_id="dp_soon", due_by=now + timedelta(days=1))
    agent = staff("support")
    client.force_login(agent)
    html = client.get("/admin/disputes/dispute/?open=yes").content.decode()
    assert html.index("dp_soon") < html.index("dp_late")
    client.post(
        "/admin/disputes/dispute/",
        {"action": "assign_to_me", "_selected_action": [soon.pk, late.pk]},
    )
    assert set(Dispute.objects.values_list("assignee", flat=True)) == {agent.pk}
    assert soon.history.first().history_user == agent


def test_evidence_packet_draft_and_audited_submission(client, paid):
    invoice, payment = paid
    dispute = _dispute(payment, due_by=timezone.now() + timedelta(days=2))
    meter = Meter.objects.create(key="disp_calls", name="Calls")
    MeterVersion.objects.create(
        meter=meter,
        version=1,
        event_type="disp.call",
        aggregation="count",
        effective_from=datetime(2020, 1, 1, tzinfo=UTC),
    )
    base = invoice.period_start + timedelta(hours=5)
    UsageEvent.objects.bulk_create(
        [
            UsageEvent(
                event_id=f"e{i}",
                customer=invoice.customer,
                customer_ref="x",
                type="disp.call",
                timestamp=base + timedelta(minutes=i * 30),
                content_hash=b"0" * 16,
                received_at=base,
            )
            for i in range(3)
        ]
    )
    UsagePageSignIn.objects.create(
        customer=invoice.customer,
        method="password",
        at=invoice.period_start + timedelta(days=2),
        ip="203.0.113.9",
    )
    agent = staff("support")
    client.force_login(agent)
    url = f"/admin/disputes/dispute/{dispute.pk}/evidence/"
    client.post(url, {"add_note": "1", "body": "Customer confirmed usage by phone."})
    html = client.get(url).content.decode()
    assert str(invoice) in html and "203.0.113.9" in html
    assert "Customer confirmed usage by phone." in html
    assert f"{(base).date()}" in html and ">3<" in html  # one day, three events
    client.post(
        url,
        {"save_draft": "1", "product_description": "API access", "uncategorized_text": "3 events"},
    )
    draft = DisputeEvidenceSubmission.objects.get()
    assert draft.submit is False and draft.actor == agent
    assert OutboxMessage.objects.get(key=draft.outbox_key).topic == "stripe.dispute.update"
    confirm = client.post(url, {"review_submit": "1", "product_description": "API access"})
    assert "cannot be edited" in confirm.content.decode()
    client.post(url + "submit/", {"confirm": "yes", "product_description": "API access"})
    final = DisputeEvidenceSubmission.objects.get(submit=True)
    assert final.evidence == {"product_description": "API access"} and final.actor == agent
    dispute.refresh_from_db()
    assert dispute.evidence_submitted_at is not None
    client.post(url + "submit/", {"confirm": "yes", "product_description": "again"})
    assert DisputeEvidenceSubmission.objects.filter(submit=True).count() == 1


def test_finance_voids_a_paid_invoice_by_refunding_it(client, paid, settings):
    settings.REFUND_APPROVAL_THRESHOLD = Decimal("100000")
    invoice, payment = paid
    url = f"/admin/disputes/refund/void-paid/{invoice.pk}/"
    client.force_login(staff("support"))
    assert client.get(url).status_code == 403
    client.force_login(staff("finance"))
    assert "cannot be undone" in client.get(url).content.decode()
    client.post(url, {"note": "Sold in error"})
    refund = Refund.objects.get()
    assert (refund.amount.amount, refund.source, refund.status) == (
        payment.amount_captured.amount,
        "invoice_void",
        "approved",
    )
