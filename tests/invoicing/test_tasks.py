"""The beat task fans out chunks of contracts; a real worker bills them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from invoicing import tasks
from invoicing.models import BillingRun, Invoice
from invoicing.services import billing_runs
from invoicing.services.billing import CHUNK
from tests.invoicing.factories import make_contract, make_version


@pytest.mark.django_db
def test_beat_task_records_a_run_and_dispatches_its_chunks(monkeypatch):
    version = make_version([])  # no usage charges: no meters needed
    contracts = [make_contract(version=version) for _ in range(3)]
    sent: list[tuple[list[int], int | None, int]] = []
    monkeypatch.setattr(billing_runs, "CHUNK", 2)
    monkeypatch.setattr(
        tasks.billing_run_contracts_task,
        "delay",
        lambda ids, now, run_id, chunk: sent.append((ids, run_id, chunk)),
    )
    with time_machine.travel(datetime(2026, 2, 3, tzinfo=UTC), tick=False):
        assert tasks.billing_run_task() == 2
    run = BillingRun.objects.get()
    assert (run.trigger, run.as_of, run.status) == (
        "beat",
        datetime(2026, 2, 3, tzinfo=UTC),
        "running",
    )
    assert (run.contracts_total, run.chunks_total) == (3, 2)
    assert sent == [([c.pk for c in contracts[:2]], run.pk, 0), ([contracts[2].pk], run.pk, 1)]
    assert CHUNK == 500


@pytest.mark.django_db
def test_run_contracts_task_bills_them():
    contract = make_contract(
        version=make_version(
            [
                {
                    "key": "fee",
                    "name": "Fee",
                    "kind": "fixed",
                    "price": {"model": "flat", "amount": "10.00"},
                }
            ]
        )
    )
    result = tasks.billing_run_contracts_task([contract.pk], "2026-02-03T00:00:00+00:00")
    assert (result["drafted"], result["finalized"]) == (1, 1)
    assert Invoice.objects.get().total.amount == 10
