"""After a refund request Support lands on the refund's read-only page, which says its status
and next step; confirmations are plain sentences with the amount (issue 21, item 5)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from disputes.models import Refund
from tests.disputes.factories import paid_invoice_payment, staff

pytestmark = pytest.mark.django_db


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _request(client, payment, amount: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"/admin/disputes/refund/request/{payment.pk}/",
        {"amount": amount, "reason": "service_issue", "reason_text": "outage"},
    )


def test_request_lands_on_the_refunds_read_only_page_with_its_next_step(client, settings):
    settings.REFUND_APPROVAL_THRESHOLD = Decimal("1.00")
    invoice, payment = paid_invoice_payment()
    client.force_login(staff("support"))
    response = _request(client, payment, "10.00")
    refund = Refund.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/disputes/refund/{refund.pk}/change/"
    page = client.get(response["Location"])
    html = page.content.decode()
    words = _text(html)
    assert f"Refund of 10.00 USD on invoice {invoice.number} requested" in words
    assert "it waits for a Finance approver" in words
    assert "Waiting for a Finance approver (refunds above 1.00 USD need one)" in words
    # read-only: no inputs to fill, no Save buttons, no empty Stripe/settlement rows
    assert 'name="_save"' not in html and '<input type="text"' not in html
    for empty in ("field-settled_at", "field-stripe_refund_id", "field-credit_note"):
        assert empty not in html, empty
    assert "Approve…" in html and "Cancel…" in html


def test_finance_approval_message_says_what_happens_next(client, settings):
    settings.REFUND_APPROVAL_THRESHOLD = Decimal("1.00")
    _, payment = paid_invoice_payment()
    client.force_login(staff("support"))
    _request(client, payment, "10.00")
    refund = Refund.objects.get()
    client.force_login(staff("finance"))
    url = f"/admin/disputes/refund/{refund.pk}/decide/approve/"
    assert "Approve the refund of 10.00 USD" in _text(client.get(url).content.decode())
    done = client.post(url, {"confirm": "yes"}, follow=True)
    words = _text(done.content.decode())
    assert "Refund of 10.00 USD on invoice" in words
    assert re.search(r"approved; it will be sent to Stripe", words)
    assert "approve done" not in words
    assert Refund.objects.get().status == "approved"
    assert "Nothing to do" in words  # the next step once approved


def test_a_refund_within_the_threshold_says_it_goes_to_stripe(client, settings):
    settings.REFUND_APPROVAL_THRESHOLD = Decimal("500.00")
    _, payment = paid_invoice_payment()
    client.force_login(staff("support"))
    page = client.get(_request(client, payment, "2.50")["Location"])
    words = _text(page.content.decode())
    assert "Refund of 2.50 USD on invoice" in words
    assert "requested and approved (within the threshold)" in words
    assert "Approve…" not in words
