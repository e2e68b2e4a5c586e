"""Refunds through the API: the three sources, the admin's guards, four eyes with persons, and
keys that may not refund (customer-bound, Support approving, a key with no person)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import override_settings

from billingsite.outbox.models import OutboxMessage
from disputes.models import Refund
from tests.disputes.factories import paid_invoice_payment
from tests.finance.support import person_api

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_threshold")]


@pytest.fixture
def _threshold():
    with override_settings(REFUND_APPROVAL_THRESHOLD=Decimal("5.00")):
        yield


def test_from_a_payment_at_or_below_the_threshold_is_approved_at_once():
    _invoice, payment = paid_invoice_payment()
    _sam, support = person_api("support", "sam")
    asked = support.post(
        "/api/v1/refunds",
        {"payment": payment.stripe_charge_id, "amount": "5.00", "reason": "duplicate"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="r1",
    )
    assert asked.status_code == 201, asked.json()
    assert (asked.json()["status"], asked.json()["needs_approval"]) == ("approved", False)
    assert asked.json()["requested_by"] == "sam"
    assert OutboxMessage.objects.filter(key=f"refund:{asked.json()['id']}").count() == 1
    replay = support.post(
        "/api/v1/refunds",
        {"payment": payment.stripe_charge_id, "amount": "5.00", "reason": "duplicate"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="r1",
    )
    assert replay.json()["id"] == asked.json()["id"] and Refund.objects.count() == 1


def test_from_a_line_and_the_guards():
    invoice, payment = paid_invoice_payment()
    _fran, api = person_api("finance", "fran")
    line = invoice.lines.filter(amount__gt=0).order_by("pk").first()
    asked = api.post(
        "/api/v1/refunds",
        {"line": line.pk, "amount": "1.00", "reason": "billing_error"},
        format="json",
    )
    assert asked.status_code == 201, asked.json()
    assert asked.json()["lines"] == {str(line.pk): "1.00"}
    too_much = api.post(
        "/api/v1/refunds",
        {"invoice": invoice.number, "amount": "999999.00", "reason": "other"},
        format="json",
    )
    assert (too_much.status_code, too_much.json()["error"]["code"]) == (409, "over_refund")
    two = api.post(
        "/api/v1/refunds",
        {"invoice": invoice.number, "payment": payment.stripe_charge_id, "reason": "other"},
        format="json",
    )
    assert two.status_code == 400
    unknown = api.post("/api/v1/refunds", {"payment": "ch_nope", "reason": "other"}, format="json")
    assert unknown.status_code == 404


def test_four_eyes_with_persons_only():
    invoice, _payment = paid_invoice_payment()
    _fran, api = person_api("finance", "fran")
    _sam, support = person_api("support", "sam")
    _frank, second = person_api("finance", "frank")
    asked = api.post(
        "/api/v1/refunds",
        {"invoice": invoice.number, "amount": "6.00", "reason": "service_issue"},
        format="json",
    )
    refund_id = asked.json()["id"]
    assert asked.json()["status"] == "requested"
    approve = f"/api/v1/refunds/{refund_id}/approve"
    assert support.post(approve, {}, format="json").status_code == 403
    system = person_api("admin", "root")[1]
    from accounts.services import api_key_create  # a key nobody created: the system

    issued = api_key_create(name="robot", scope="admin")
    system.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    nobody = system.post(approve, {}, format="json")
    assert (nobody.status_code, nobody.json()["error"]["code"]) == (403, "person_required")
    no_note = second.post(f"/api/v1/refunds/{refund_id}/reject", {}, format="json")
    assert (no_note.status_code, no_note.json()["error"]["code"]) == (400, "reason_required")
    rejected = second.post(
        f"/api/v1/refunds/{refund_id}/reject", {"note": "goodwill credit instead"}, format="json"
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert not OutboxMessage.objects.filter(key=f"refund:{refund_id}").exists()


def test_a_customer_bound_key_cannot_refund(api_client_for):
    invoice, _payment = paid_invoice_payment()
    bound = api_client_for("admin", customer=invoice.customer)
    refused = bound.post(
        "/api/v1/refunds", {"invoice": invoice.number, "reason": "other"}, format="json"
    )
    assert refused.status_code == 403 and not Refund.objects.exists()
