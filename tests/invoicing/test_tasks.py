"""The beat task fans out chunks of contracts; a real worker bills them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from invoicing import tasks
from invoicing.models import Invoice
from invoicing.services.billing import CHUNK
from tests.invoicing.factories import make_contract, make_version


@pytest.mark.django_db
def test_beat_task_dispatches_chunks_with_one_now(monkeypatch):
    version = make_version([])  # no usage charges: no meters needed
    contracts = [make_contract(version=version) for _ in range(3)]
    sent: list[tuple[list[int], str]] = []
    monkeypatch.setattr(tasks, "CHUNK", 2)
    monkeypatch.setattr(
        tasks.billing_run_contracts_task, "delay", lambda ids, now: sent.append((ids, now))
    )
    with time_machine.travel(datetime(2026, 2, 3, tzinfo=UTC), tick=False):
        assert tasks.billing_run_task() == 3
    assert [ids for ids, _now in sent] == [[c.pk for c in contracts[:2]], [contracts[2].pk]]
    assert {now for _ids, now in sent} == {"2026-02-03T00:00:00+00:00"}
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
