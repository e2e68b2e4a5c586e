"""Two billing runs at once (threads with their own database connections): exactly one
invoice per contract and period, gapless numbers, credits never overdrawn."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum

from invoicing.models import CreditEntry, Invoice
from invoicing.services.billing import BillingRunResult, billing_run
from invoicing.services.credits import credit_grant_create
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract, make_version
from tests.usage_sources import fixed_usage

CONTRACTS = 12


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_billing_runs_make_one_invoice_per_contract_and_period():
    version = make_version()
    shared = CustomerFactory()
    grant = credit_grant_create(
        customer=shared,
        kind="promotional",
        amount="150.00",
        currency="USD",
        effective_at=datetime(2025, 1, 1, tzinfo=UTC),
    )
    make_contract(shared, version=version)
    make_contract(shared, version=version)  # two contracts competing for one grant
    for _ in range(CONTRACTS - 2):
        make_contract(version=version)

    now = datetime(2026, 3, 5, tzinfo=UTC)  # January and February: drafted and finalized
    barrier = threading.Barrier(2)
    results: list[BillingRunResult] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(billing_run(now=now, usage=fixed_usage({"api_calls": 1000})))
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    assert all(not result.failed for result in results)

    invoices = list(Invoice.objects.all())
    assert len(invoices) == CONTRACTS * 2
    assert len({(i.contract_id, i.period_start) for i in invoices}) == CONTRACTS * 2
    assert sum(r.drafted for r in results) == CONTRACTS * 2
    assert sum(r.finalized for r in results) == CONTRACTS * 2
    numbers = sorted(int(i.number.split("-")[1]) for i in invoices)
    assert numbers == list(range(1, CONTRACTS * 2 + 1))
    drawn = CreditEntry.objects.filter(grant=grant).aggregate(s=Sum("amount"))["s"]
    assert drawn == Decimal("0.00")  # 150 granted, exactly 150 drawn, never more
    assert -CreditEntry.objects.filter(grant=grant, kind="drawdown").aggregate(s=Sum("amount"))[
        "s"
    ] == Decimal("150.00")


@pytest.mark.django_db(transaction=True)
def test_finalization_waits_for_an_amendment_in_progress_and_uses_its_terms():
    """The finalizer locks the draft and its contract in one statement; while an amendment
    holds the contract it waits, then bills with the amended terms (the prefetched contract
    is stale: its ``updated_at`` moved)."""
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from invoicing.models import Contract

    contract = make_contract(version=make_version())
    usage = fixed_usage({"api_calls": 1000})
    billing_run(now=datetime(2026, 2, 1, 0, 5, tzinfo=UTC), usage=usage)  # January's draft
    locked, release = threading.Event(), threading.Event()

    def amendment_in_progress() -> None:
        try:
            with transaction.atomic():
                Contract.objects.select_for_update().get(pk=contract.pk)
                locked.set()
                release.wait(30)
                Contract.objects.filter(pk=contract.pk).update(
                    net_days=45, updated_at=timezone.now()
                )
        finally:
            connection.close()

    holder = threading.Thread(target=amendment_in_progress)
    holder.start()
    assert locked.wait(30)
    results: list[BillingRunResult] = []
    runner = threading.Thread(
        target=lambda: (
            results.append(billing_run(now=datetime(2026, 2, 2, 1, tzinfo=UTC), usage=usage)),
            connection.close(),
        )
    )
    runner.start()
    runner.join(1.0)
    assert runner.is_alive()  # waiting for the contract, not skipping or failing
    release.set()
    holder.join(30)
    runner.join(30)
    assert (results[0].finalized, results[0].failed) == (1, [])
    invoice = Invoice.objects.get()
    assert invoice.due_at - invoice.issued_at == timedelta(days=45)
