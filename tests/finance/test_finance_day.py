"""A Finance day through the API only, no shell: a new enterprise contract with a commit and
credits, an amendment previewed then saved mid-period, the billing run as of the period end,
a refund above the threshold approved by a second person, and every change audited with the
person behind the API key."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.test import override_settings

from disputes.models import Refund, RefundTransition
from invoicing.models import (
    BillingRun,
    Contract,
    ContractAmendment,
    CreditGrant,
    Invoice,
    RateOverride,
)
from tests.factories import CustomerFactory
from tests.finance.support import celery_inline, person_api, stripe_paid

pytestmark = pytest.mark.django_db

PLAN = {
    "key": "enterprise",
    "name": "Enterprise",
    "currency": "USD",
    "charges": [
        {
            "key": "platform",
            "name": "Platform",
            "kind": "fixed",
            "price": {"model": "flat", "amount": "1000.00"},
        },
        {
            "key": "support",
            "name": "Support",
            "kind": "fixed",
            "price": {"model": "flat", "amount": "200.00"},
        },
    ],
}


def at(day: int, month: int = 1) -> time_machine.travel:
    return time_machine.travel(datetime(2026, month, day, 9, tzinfo=UTC), tick=False)


def _new_contract(api) -> int:  # type: ignore[no-untyped-def]
    assert api.post("/api/v1/plans", PLAN, format="json").status_code == 201
    created = api.post(
        "/api/v1/contracts",
        {"customer": "bigco", "plan": "enterprise", "start_date": "2026-01-01"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="contract-bigco",
    )
    assert created.status_code == 201, created.json()
    contract_id: int = created.json()["id"]
    terms = api.post(
        f"/api/v1/contracts/{contract_id}/amendments",
        {
            "effective_from": "2026-01-01",
            "commits": [{"kind": "minimum", "amount": "1500.00"}],
            "credit_grants": [{"amount": "100.00", "kind": "promotional", "priority": 10}],
            "terms": {"net_days": 45},
            "note": "Signed order form #42",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="terms-bigco",
    )
    assert terms.status_code == 201, terms.json()
    return contract_id


@override_settings(REFUND_APPROVAL_THRESHOLD=Decimal("500.00"))
def test_a_finance_day_through_the_api(django_capture_on_commit_callbacks):
    fran, api = person_api("finance", "fran")
    frank, second = person_api("finance", "frank")
    CustomerFactory(external_id="bigco", name="BigCo", currency="USD")
    with at(1):
        contract_id = _new_contract(api)
    contract = Contract.objects.get(pk=contract_id)
    assert (contract.net_days, contract.commits.get().amount) == (45, Decimal("1500.0000"))

    with at(16):
        change = {
            "effective_from": "2026-01-16",
            "rate_overrides": [{"charge": "platform", "type": "multiplier", "multiplier": "0.5"}],
        }
        url = f"/api/v1/contracts/{contract_id}/amendments"
        preview = api.post(f"{url}?preview=true", change, format="json")
        assert preview.status_code == 200, preview.json()
        body = preview.json()
        assert RateOverride.objects.count() == 0  # nothing saved
        # The minimum commit (1500) tops both up: the true-up makes up what the discount took.
        assert body["before"]["total"] == body["after"]["total"]
        assert body["difference"] == "0.00"
        true_ups = [
            [Decimal(line["amount"]) for line in body[side]["lines"] if line["kind"] == "true_up"]
            for side in ("before", "after")
        ]
        assert true_ups[0] == [Decimal("300.00")] and true_ups[1][0] > Decimal("300.00")
        assert body["in_force"]["charges"][0]["multiplier_in_force"] is None
        saved = api.post(url, change, format="json", HTTP_IDEMPOTENCY_KEY="halve-platform")
        assert saved.status_code == 201, saved.json()
        again = api.post(url, change, format="json", HTTP_IDEMPOTENCY_KEY="halve-platform")
        assert again.json() == saved.json() and again["Idempotent-Replayed"] == "true"
    assert RateOverride.objects.count() == 1
    listed = api.get(url).json()["results"]
    assert [a["created_by"] for a in listed] == ["fran", "fran"]

    with at(3, month=2), celery_inline(), django_capture_on_commit_callbacks(execute=True):
        started = api.post(
            "/api/v1/billing-runs",
            {"as_of": "2026-02-02T00:00:00Z", "contracts": [contract_id]},
            format="json",
            HTTP_IDEMPOTENCY_KEY="run-january",
        )
        assert started.status_code == 202, started.json()
    run = BillingRun.objects.get(pk=started.json()["id"])
    assert (run.status, run.drafted, run.finalized, run.failed) == ("finished", 1, 1, 0)
    assert (run.trigger, run.created_by) == ("api", fran)
    shown = api.get(f"/api/v1/billing-runs/{run.pk}").json()
    assert shown["counts"]["finalized"] == 1 and shown["created_by"] == "fran"

    invoice = Invoice.objects.get(contract_id=contract_id)
    assert invoice.status == "finalized"
    # 1500 committed, less the 100 promotional credit.
    assert invoice.total.amount == Decimal("1400.00")
    payment = stripe_paid(invoice, "bigco1")

    with at(5, month=2):
        asked = api.post(
            "/api/v1/refunds",
            {"invoice": invoice.number, "amount": "600.00", "reason": "service_issue"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="refund-outage",
        )
        assert asked.status_code == 201, asked.json()
        refund_id = asked.json()["id"]
        assert (asked.json()["status"], asked.json()["needs_approval"]) == ("requested", True)
        own = api.post(f"/api/v1/refunds/{refund_id}/approve", {}, format="json")
        assert own.status_code == 409 and own.json()["error"]["code"] == "four_eyes"
        approved = second.post(f"/api/v1/refunds/{refund_id}/approve", {}, format="json")
        assert approved.status_code == 200, approved.json()
        assert (approved.json()["status"], approved.json()["approved_by"]) == ("approved", "frank")
    refund = Refund.objects.get(pk=refund_id)
    assert (refund.payment, refund.requested_by, refund.approved_by) == (payment, fran, frank)

    # The audit: every change names the person behind the key.
    assert contract.history.earliest().history_user == fran
    assert {a.created_by for a in ContractAmendment.objects.all()} == {fran}
    assert RateOverride.history.get().history_user == fran
    grant = CreditGrant.objects.get()
    assert (grant.created_by, grant.history.get().history_user) == (fran, fran)
    actors = list(
        RefundTransition.objects.filter(refund=refund)
        .order_by("pk")
        .values_list("actor", flat=True)
    )
    assert actors == [fran.pk, frank.pk]
