"""Contracts, amendments and credit grants through the API: the admin's services, rules and
permissions; multipliers that compound or replace; the admin form showing what is in force."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine

from invoicing.models import ContractAmendment, CreditEntry, CreditGrant, RateOverride
from invoicing.selectors.contracts import terms_in_force
from tests.disputes.factories import staff
from tests.finance.support import person_api
from tests.invoicing.factories import make_contract

pytestmark = pytest.mark.django_db
MID_JANUARY = datetime(2026, 1, 16, 9, tzinfo=UTC)


def _multiplier(factor: str, *, replace: bool = False, day: str = "2026-01-16") -> dict:
    override = {"charge": "platform", "type": "multiplier", "multiplier": factor}
    return {"effective_from": day, "rate_overrides": [{**override, "replace": replace}]}


def test_multipliers_compound_unless_they_replace():
    contract = make_contract()
    _fran, api = person_api("finance", "fran")
    url = f"/api/v1/contracts/{contract.pk}/amendments"
    with time_machine.travel(MID_JANUARY, tick=False):
        assert api.post(url, _multiplier("0.5", day="2026-01-01"), format="json").status_code == 201
        assert api.post(url, _multiplier("0.8"), format="json").status_code == 201
        charge = terms_in_force(contract, date(2026, 1, 20)).charge("platform")
        assert charge is not None and charge.multiplier == Decimal("0.4")
        replaced = api.post(url, _multiplier("0.9", replace=True, day="2026-01-20"), format="json")
        assert replaced.status_code == 201, replaced.json()
        shown = api.get(f"/api/v1/contracts/{contract.pk}").json()
    charge = terms_in_force(contract, date(2026, 1, 20)).charge("platform")
    assert charge is not None and charge.multiplier == Decimal("0.9")
    assert shown["in_force"]["charges"][0]["multiplier_in_force"] == "0.4"
    assert list(RateOverride.objects.order_by("pk").values_list("effective_to", flat=True)) == [
        date(2026, 1, 20),
        date(2026, 1, 20),
        None,
    ]


def test_amendment_rules_and_sizes_are_the_admins():
    contract = make_contract()
    _fran, api = person_api("finance", "fran")
    _sam, support = person_api("support", "sam")
    url = f"/api/v1/contracts/{contract.pk}/amendments"
    unknown = api.post(
        url,
        {
            **_multiplier("0.5"),
            "rate_overrides": [{"charge": "nope", "type": "multiplier", "multiplier": "2"}],
        },
        format="json",
    )
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, "unknown_charge")
    missing = api.post(
        url,
        {
            "effective_from": "2026-01-16",
            "rate_overrides": [{"charge": "platform", "type": "tiers"}],
        },
        format="json",
    )
    assert missing.status_code == 400
    too_many = api.post(
        url,
        {
            "effective_from": "2026-01-16",
            "discounts": [{"name": "x", "kind": "fixed", "value": "1"}] * 51,
        },
        format="json",
    )
    assert too_many.status_code == 400
    floats = api.post(
        url,
        {"effective_from": "2026-01-16", "commits": [{"kind": "minimum", "amount": 10.5}]},
        format="json",
    )
    assert floats.status_code == 400
    refused = support.post(url, _multiplier("0.5"), format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "permission_denied")
    assert not ContractAmendment.objects.exists() and not RateOverride.objects.exists()


def test_idempotency_key_replays_and_refuses_another_body():
    contract = make_contract()
    _fran, api = person_api("finance", "fran")
    url = f"/api/v1/contracts/{contract.pk}/amendments"
    first = api.post(url, _multiplier("0.5"), format="json", HTTP_IDEMPOTENCY_KEY="k1")
    again = api.post(url, _multiplier("0.5"), format="json", HTTP_IDEMPOTENCY_KEY="k1")
    other = api.post(url, _multiplier("0.6"), format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert (first.status_code, again.status_code, other.status_code) == (201, 201, 409)
    assert ContractAmendment.objects.count() == 1


def test_end_a_contract_through_an_audited_amendment():
    contract = make_contract()
    fran, api = person_api("finance", "fran")
    ended = api.post(
        f"/api/v1/contracts/{contract.pk}/end", {"end_date": "2026-06-01"}, format="json"
    )
    assert ended.status_code == 200, ended.json()
    assert ended.json()["end_date"] == "2026-06-01"
    contract.refresh_from_db()
    assert contract.end_date == date(2026, 6, 1)
    assert contract.history.latest().history_user == fran
    assert ContractAmendment.objects.get().changes["end_date"] == "2026-06-01"


def test_credit_grant_create_list_and_void():
    contract = make_contract()
    external_id = contract.customer.external_id
    fran, api = person_api("finance", "fran")
    url = f"/api/v1/customers/{external_id}/credit-grants"
    body = {"amount": "250.00", "currency": "USD", "kind": "paid", "priority": 5}
    created = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="g1")
    assert created.status_code == 201, created.json()
    grant_id = created.json()["id"]
    assert (created.json()["balance"], created.json()["priority"]) == ("250.00", 5)
    assert [g["id"] for g in api.get(url).json()["results"]] == [grant_id]
    no_reason = api.post(f"{url}/{grant_id}/void", {}, format="json")
    assert no_reason.status_code == 400
    voided = api.post(f"{url}/{grant_id}/void", {"reason": "sold in error"}, format="json")
    assert voided.status_code == 200 and voided.json()["balance"] == "0.00"
    twice = api.post(f"{url}/{grant_id}/void", {"reason": "again"}, format="json")
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "grant_empty")
    grant = CreditGrant.objects.get()
    assert grant.history.get().history_user == fran
    void = CreditEntry.objects.get(kind="adjustment")
    assert (void.amount.amount, void.created_by) == (Decimal("-250.00"), fran)


def test_admin_form_shows_what_is_in_force_and_whether_a_multiplier_compounds(client):
    contract = make_contract()
    _fran, api = person_api("finance", "fran")
    url = f"/api/v1/contracts/{contract.pk}/amendments"
    assert api.post(url, _multiplier("0.5", day="2026-01-01"), format="json").status_code == 201
    client.force_login(staff("finance"))
    page = f"/admin/invoicing/contract/{contract.pk}/amend/"
    with time_machine.travel(MID_JANUARY, tick=False):
        shown = client.get(page).content.decode()
        assert "In force today (2026-01-16)" in shown and "multiplier in force: ×0.5" in shown
        assert '<option value="platform">Platform fee (platform)</option>' in shown
        form = {
            "effective_date": "2026-01-20",
            "override_charge_key": "platform",
            "override_kind": "multiplier",
            "override_multiplier": "0.8",
            "discount_duration": "recurring",
            "preview": "1",
        }
        compounds = client.post(page, form).content.decode()
        replaces = client.post(page, {**form, "override_replace": "on"}).content.decode()
    assert "compounds with the ×0.5 in force on platform today: ×0.4 in all" in compounds
    assert "×0.8 replaces the ×0.5 in force on platform today" in replaces
