"""Billing runs as records: the command (progress, counts, errors, a harmless re-run), the API
(202 with the id, validation, permissions) and a real worker billing an API-started run."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.core.management import CommandError, call_command

from invoicing.models import BillingRun, Invoice
from invoicing.services import billing
from tests.finance.support import person_api
from tests.invoicing.factories import PLATFORM_FEE, make_contract, make_version
from tests.workers import celery_worker

FEB_3 = datetime(2026, 2, 3, 9, tzinfo=UTC)


def _contracts(count: int) -> list[int]:
    version = make_version([PLATFORM_FEE])
    return [make_contract(version=version, start=date(2026, 1, 1)).pk for _ in range(count)]


@pytest.mark.django_db
def test_command_records_counts_errors_and_reruns_harmlessly(monkeypatch, capsys):
    ids = _contracts(3)
    real = billing.draft_prepare

    def broken_for_the_second(**kwargs):  # type: ignore[no-untyped-def]
        if kwargs["contract"].pk == ids[1]:
            raise RuntimeError("meter missing")
        return real(**kwargs)

    monkeypatch.setattr(billing, "draft_prepare", broken_for_the_second)
    with time_machine.travel(FEB_3, tick=False), pytest.raises(CommandError, match="1 contracts"):
        call_command("billing_run", "--as-of", "2026-02-03T00:00:00Z")
    out, err = capsys.readouterr()
    run = BillingRun.objects.get()
    assert (run.trigger, run.status, run.as_of) == (
        "command",
        "finished_with_errors",
        datetime(2026, 2, 3, tzinfo=UTC),
    )
    assert (run.contracts_total, run.drafted, run.finalized, run.failed) == (3, 2, 2, 1)
    assert run.errors == [{"contract": ids[1], "error": "RuntimeError: meter missing"}]
    assert f"billing run {run.pk}" in out and "3/3 contracts" in err

    monkeypatch.setattr(billing, "draft_prepare", real)
    with time_machine.travel(FEB_3, tick=False):
        call_command("billing_run", "--as-of", "2026-02-03", "--no-progress")
    again = BillingRun.objects.latest("pk")
    assert (again.status, again.drafted, again.finalized, again.failed) == ("finished", 1, 1, 0)
    assert Invoice.objects.count() == 3  # one per contract and period, whatever ran twice


@pytest.mark.django_db
def test_command_refuses_a_future_as_of_and_unknown_contracts():
    with pytest.raises(CommandError, match="future"):
        call_command("billing_run", "--as-of", "2999-01-01")
    with pytest.raises(CommandError, match="No such contracts"):
        call_command("billing_run", "--contract", "999999")
    assert not BillingRun.objects.exists()


@pytest.mark.django_db
def test_api_validates_and_needs_the_admins_permission():
    _fran, finance = person_api("finance", "fran")
    _sam, support = person_api("support", "sam")
    future = finance.post("/api/v1/billing-runs", {"as_of": "2999-01-01T00:00:00Z"}, format="json")
    assert (future.status_code, future.json()["error"]["code"]) == (400, "as_of_in_future")
    unknown = finance.post("/api/v1/billing-runs", {"contracts": [999999]}, format="json")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, "unknown_contracts")
    refused = support.post("/api/v1/billing-runs", {}, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "permission_denied")
    assert not BillingRun.objects.exists()
    assert support.get("/api/v1/billing-runs").status_code == 200  # Support may read


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_api_run_is_billed_by_a_real_worker():
    ids = _contracts(2)
    _fran, api = person_api("finance", "fran")
    with celery_worker():
        started = api.post(
            "/api/v1/billing-runs",
            {"as_of": "2026-02-03T00:00:00Z", "contracts": ids},
            format="json",
            HTTP_IDEMPOTENCY_KEY="feb",
        )
        assert started.status_code == 202, started.json()
        assert started.json()["status"] == "queued"
        run_id = started.json()["id"]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            shown = api.get(f"/api/v1/billing-runs/{run_id}").json()
            if shown["status"] != "queued" and shown["finished_at"]:
                break
            time.sleep(0.5)
    assert shown["status"] == "finished", shown
    assert shown["counts"] == {
        "contracts": 2,
        "contracts_done": 2,
        "drafted": 2,
        "refreshed": 0,
        "finalized": 2,
        "failed": 0,
    }
    assert Invoice.objects.filter(status="finalized").count() == 2


@pytest.mark.django_db
def test_a_redelivered_chunk_is_counted_once_and_the_last_chunk_closes_the_run():
    from invoicing.services.billing import BillingRunResult
    from invoicing.services.billing_runs import (
        billing_run_create,
        billing_run_plan,
        billing_run_record,
    )

    ids = _contracts(3)
    with time_machine.travel(FEB_3, tick=False):
        run = billing_run_create(trigger="api", contract_ids=ids)
    assert billing_run_plan(run_id=run.pk) == [ids]
    assert billing_run_plan(run_id=run.pk) == []  # a redelivered fan-out sends nothing twice
    done = BillingRunResult(drafted=3, finalized=3)
    first = billing_run_record(run_id=run.pk, chunk=0, contracts=3, result=done)
    again = billing_run_record(run_id=run.pk, chunk=0, contracts=3, result=done)
    assert (first.drafted, again.drafted, again.chunks_done, again.status) == (3, 3, 1, "finished")


@pytest.mark.django_db
def test_create_api_key_names_the_person_it_acts_for(capsys):
    from accounts.models import ApiKey
    from tests.disputes.factories import staff

    fran = staff("finance", "fran")
    call_command("create_api_key", "--name", "fran-cli", "--scope", "admin", "--created-by", "fran")
    assert ApiKey.objects.get(name="fran-cli").created_by == fran
    with pytest.raises(CommandError, match="No staff user"):
        call_command("create_api_key", "--name", "x", "--scope", "admin", "--created-by", "nobody")
