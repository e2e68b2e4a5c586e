"""GET /api/v1/refunds and /api/v1/disputes: read scope, filters, customer-bound keys."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from disputes.models import Dispute, Refund
from tests.disputes.factories import paid_invoice_payment

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_customers():
    rows = []
    for status in ("succeeded", "requested"):
        invoice, payment = paid_invoice_payment()
        refund = Refund.objects.create(
            payment=payment,
            invoice=invoice,
            customer=payment.customer,
            amount=Decimal("1.50"),
            currency=payment.currency,
            reason="other",
            status=status,
        )
        dispute = Dispute.objects.create(
            stripe_id=f"dp_api{payment.pk}",
            payment=payment,
            customer=payment.customer,
            amount=Decimal("9.00"),
            currency=payment.currency,
            status="needs_response",
            due_by=timezone.now() + timedelta(days=3),
        )
        rows.append((payment.customer, refund, dispute))
    return rows


def test_lists_filter_by_customer_status_and_period(read_api, two_customers):
    (first, refund, dispute), (second, _, _) = two_customers
    body = read_api.get("/api/v1/refunds").json()
    assert len(body["results"]) == 2
    mine = read_api.get(f"/api/v1/refunds?customer={first.external_id}").json()["results"]
    assert [(r["id"], r["amount"], r["status"]) for r in mine] == [(refund.pk, "1.50", "succeeded")]
    assert [
        r["customer"] for r in read_api.get("/api/v1/refunds?status=requested").json()["results"]
    ] == [second.external_id]
    future = (timezone.now() + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert read_api.get("/api/v1/refunds", {"start": future}).json()["results"] == []
    disputes = read_api.get(f"/api/v1/disputes?customer={first.external_id}").json()["results"]
    assert [(d["id"], d["amount"]) for d in disputes] == [(dispute.stripe_id, "9.00")]
    bad = read_api.get("/api/v1/disputes?status=nope")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"


def test_a_bound_key_sees_only_its_customer(api_client_for, two_customers):
    (first, _, _), (second, _, _) = two_customers
    bound = api_client_for("read", customer=first)
    assert {r["customer"] for r in bound.get("/api/v1/refunds").json()["results"]} == {
        first.external_id
    }
    for path in ("/api/v1/refunds", "/api/v1/disputes"):
        # Naming another customer is a 404, as on every other endpoint: no empty-list oracle.
        other = bound.get(f"{path}?customer={second.external_id}")
        assert other.status_code == 404, other.content
        assert other.json()["error"]["code"] == "not_found"
        own = bound.get(f"{path}?customer={first.external_id}")
        assert {r["customer"] for r in own.json()["results"]} == {first.external_id}


def test_an_unknown_customer_is_a_404_and_an_alias_names_its_customer(read_api, two_customers):
    from accounts.services import customer_alias_add

    (first, refund, _), _ = two_customers
    customer_alias_add(customer=first, alias="first-alias")
    assert read_api.get("/api/v1/refunds?customer=nobody").status_code == 404
    by_alias = read_api.get("/api/v1/refunds?customer=first-alias").json()["results"]
    assert [r["id"] for r in by_alias] == [refund.pk]


def test_ingest_scope_is_refused(api_client_for):
    assert api_client_for("ingest").get("/api/v1/refunds").status_code == 403
