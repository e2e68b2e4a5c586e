"""The top-up and auto-recharge API: admin writes, read lists, scopes, the error shape."""

from __future__ import annotations

import pytest

from billingsite.outbox.models import OutboxMessage
from invoicing.models import AutoRechargeRule, CreditPurchase
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
BASE = "/api/v1/customers/acme"


def test_a_top_up_is_accepted_and_listed(admin_api, read_api):
    CustomerFactory(external_id="acme")
    body = {"amount": "25.00", "currency": "USD"}
    assert read_api.post(f"{BASE}/credit-purchases", body, format="json").status_code == 403
    made = admin_api.post(f"{BASE}/credit-purchases", body, format="json")
    assert made.status_code == 202, made.json()
    data = made.json()
    assert (data["status"], data["amount"], data["source"]) == ("pending", "25.00", "top_up")
    purchase = CreditPurchase.objects.get()
    assert OutboxMessage.objects.filter(key=f"credit-purchase:{purchase.pk}").count() == 1
    listed = read_api.get(f"{BASE}/credit-purchases").json()["results"]
    assert [row["id"] for row in listed] == [purchase.pk]
    bad = admin_api.post(
        f"{BASE}/credit-purchases", {"amount": "-1", "currency": "USD"}, format="json"
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"]


def test_a_rule_is_set_changed_and_listed(admin_api, read_api):
    CustomerFactory(external_id="acme")
    body = {"currency": "usd", "threshold": "50", "amount": "100.00", "max_per_month": 2}
    assert read_api.post(f"{BASE}/auto-recharge", body, format="json").status_code == 403
    made = admin_api.post(f"{BASE}/auto-recharge", body, format="json")
    assert made.status_code == 200, made.json()
    assert (made.json()["threshold"], made.json()["amount"]) == ("50.00", "100.00")
    changed = admin_api.post(f"{BASE}/auto-recharge", {**body, "amount": "40"}, format="json")
    assert changed.json()["id"] == made.json()["id"] and changed.json()["amount"] == "40.00"
    assert AutoRechargeRule.objects.count() == 1
    assert AutoRechargeRule.history.count() == 2  # type: ignore[attr-defined]
    rows = read_api.get(f"{BASE}/auto-recharge").json()["results"]
    assert [(r["currency"], r["enabled"], r["max_per_month"]) for r in rows] == [("USD", True, 2)]
