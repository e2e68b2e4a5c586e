"""The journal refuses to be broken: an unbalanced entry (or one mixing currencies) fails at
commit, posted rows cannot be changed or deleted, posting twice (or concurrently) writes one
entry, and the invariant checks report an unbalanced entry written behind the trigger's back."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from billingsite.invariants import registered_checks
from revenue.models import Account, JournalEntry, JournalLine
from revenue.services.journal import Leg, UnbalancedEntryError, entry_post
from revenue.services.recognition import post_pending
from tests.revenue.builders import at, contract_for, invoice_with


def _entry(key: str, currency: str = "USD") -> JournalEntry:
    return JournalEntry.objects.create(
        date=date(2026, 1, 1),
        currency=currency,
        source_type="invoice",
        source_id=1,
        source_key=key,
    )


def _revenue_checks() -> list[str]:
    return [
        v.subject
        for check in registered_checks()
        if check.name.startswith("revenue.")
        for v in check.func()
    ]


@pytest.mark.django_db(transaction=True)
def test_an_unbalanced_entry_is_refused_at_commit() -> None:
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        entry = _entry("bad:1")
        JournalLine.objects.create(
            entry=entry, account=Account.CASH, currency="USD", debit=Decimal("10.00")
        )
        JournalLine.objects.create(
            entry=entry, account=Account.RECEIVABLE, currency="USD", credit=Decimal("9.99")
        )
    with pytest.raises(IntegrityError, match="another currency"), transaction.atomic():
        entry = _entry("bad:2")
        JournalLine.objects.create(
            entry=entry, account=Account.CASH, currency="USD", debit=Decimal("10.00")
        )
        JournalLine.objects.create(
            entry=entry, account=Account.RECEIVABLE, currency="EUR", credit=Decimal("10.00")
        )
    assert not JournalEntry.objects.exists()


@pytest.mark.django_db
def test_a_line_is_a_debit_or_a_credit_never_both() -> None:
    entry = _entry("both:1")
    with pytest.raises(IntegrityError), transaction.atomic():
        JournalLine.objects.create(
            entry=entry,
            account=Account.CASH,
            currency="USD",
            debit=Decimal("1.00"),
            credit=Decimal("1.00"),
        )


@pytest.mark.django_db
def test_entry_post_refuses_unbalanced_legs_and_writes_nothing() -> None:
    with pytest.raises(UnbalancedEntryError):
        entry_post(
            key="x:1",
            source_type="invoice",
            source_id=1,
            on=date(2026, 1, 1),
            currency="USD",
            legs=[Leg(Account.CASH, Decimal("5.00")), Leg(Account.RECEIVABLE, Decimal("-4.00"))],
        )
    assert not JournalEntry.objects.filter(source_key="x:1").exists()


@pytest.mark.django_db
def test_posted_rows_are_append_only() -> None:
    entry, _ = entry_post(
        key="x:2",
        source_type="invoice",
        source_id=1,
        on=date(2026, 1, 1),
        currency="USD",
        legs=[Leg(Account.CASH, Decimal("5.00")), Leg(Account.RECEIVABLE, Decimal("-5.00"))],
    )
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        JournalLine.objects.filter(entry=entry).update(debit=Decimal("6.00"))
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:  # past the ORM's own PROTECT check
            cursor.execute("DELETE FROM revenue_journalline WHERE entry_id = %s", [entry.pk])


@pytest.mark.django_db
def test_the_invariant_reports_an_entry_written_behind_the_triggers_back() -> None:
    assert _revenue_checks() == []
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        cursor.execute("ALTER TABLE revenue_journalline DISABLE TRIGGER ALL")
        entry = _entry("sneaky:1")
        JournalLine.objects.create(
            entry=entry, account=Account.CASH, currency="USD", debit=Decimal("3.00")
        )
        assert set(_revenue_checks()) == {"journal entry sneaky:1", "journal USD"}
        cursor.execute("ALTER TABLE revenue_journalline ENABLE TRIGGER ALL")
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_posting_twice_writes_once() -> None:
    invoice_with(
        contract_for(),
        [{"kind": "usage", "amount": "10.00"}],
        issued=at(2026, 2, 1),
        start=date(2026, 1, 1),
        end=date(2026, 2, 1),
    )
    first = post_pending(today=date(2026, 2, 1)).entries
    assert first == 2  # the invoice and January's recognition
    assert post_pending(today=date(2026, 2, 1)).entries == 0
    assert JournalEntry.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweeps_post_each_source_once() -> None:
    for month in (1, 2, 3):
        invoice_with(
            contract_for(),
            [{"kind": "fixed", "amount": "90.00"}],
            issued=at(2026, month + 1, 1),
            start=date(2026, month, 1),
            end=date(2026, month + 1, 1),
        )
    barrier, errors = threading.Barrier(2), []

    def sweep() -> None:
        try:
            barrier.wait()
            post_pending(today=date(2026, 6, 1))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert JournalEntry.objects.filter(source_type="invoice").count() == 3
    assert JournalEntry.objects.filter(source_type="recognition").count() == 3
    assert _revenue_checks() == []
