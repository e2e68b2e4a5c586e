"""Finalizing a billing run's drafts a batch at a time (``services.billing_finalize``) gives the
same invoices, numbers, totals, lines, credit draws, transitions, Stripe outbox rows and webhook
events as finalizing them one by one, and a batch that dies midway keeps nothing of itself."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from billingsite.outbox.models import OutboxMessage
from billingsite.webhooks.models import WebhookEvent
from billingsite.webhooks.services import webhook_endpoint_create
from invoicing.models import CreditEntry, Invoice, InvoiceNumberCounter, InvoiceTransition
from invoicing.selectors.invoices import contracts_with_terms
from invoicing.services import billing_finalize
from invoicing.services.billing import billing_run
from invoicing.services.billing_finalize import DueDraft, drafts_finalize
from invoicing.services.credits import credit_grant_create
from invoicing.services.invoice_lines import SIGNATURE
from invoicing.states import InvoiceStatus
from invoicing.usage import UsageReading
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract, make_version

pytestmark = pytest.mark.django_db

DRAFT_AT = datetime(2026, 2, 1, 0, 5, tzinfo=UTC)
FINALIZE_AT = datetime(2026, 2, 2, 1, tzinfo=UTC)


def _n(customer: Any) -> int:
    """A number of the customer's that does not depend on the order tests run in."""
    return int("".join(c for c in customer.external_id if c.isdigit()) or 1)


def drafted_usage(
    *, customer: Any, meter_key: str, start: datetime, end: datetime, group_by: Any = None
) -> UsageReading:
    return UsageReading(total=Decimal(100 + 10 * _n(customer)))


def late_usage(
    *, customer: Any, meter_key: str, start: datetime, end: datetime, group_by: Any = None
) -> UsageReading:
    """Late events for every third customer: their drafts' lines change at finalization."""
    late = 37 if _n(customer) % 3 == 0 else 0
    return UsageReading(total=Decimal(100 + 10 * _n(customer) + late))


def _world() -> None:
    """Twelve contracts in two series with different payment terms; a customer whose grant
    two contracts draw from; a contract with an issued invoice before its draft; one whose
    draft is not due yet (handled on its own, between batched ones); an enabled webhook
    endpoint."""
    webhook_endpoint_create(url="https://hooks.example.com/tally", events=["*"])
    version = make_version()
    shared = CustomerFactory(external_id="shared")
    credit_grant_create(
        customer=shared,
        kind="promotional",
        amount="150.00",
        currency="USD",
        effective_at=datetime(2025, 1, 1, tzinfo=UTC),
    )
    for n in range(12):
        if n in (2, 3):
            customer = shared
        elif n == 7:
            customer = CustomerFactory(external_id=f"slow-{n}", invoice_grace_hours=72)
        else:
            customer = CustomerFactory(external_id=f"c-{n}")
        make_contract(
            customer,
            version=version,
            start=date(2025, 12, 1) if n == 5 else date(2026, 1, 1),
            invoice_series="EU" if n % 4 == 1 else "INV",
            net_days=14 if n % 2 else 30,
        )


def _snapshot() -> dict[str, Any]:
    invoices = [
        (
            i.pk,
            i.contract_id,
            i.status,
            i.number,
            i.total.amount,
            i.issued_at,
            i.due_at,
            i.updated_at,
            i.refreshed_at,
            [tuple(v) for v in i.lines.order_by("position").values_list(*SIGNATURE)],
        )
        for i in Invoice.objects.order_by("pk")
    ]
    transitions = list(
        InvoiceTransition.objects.order_by("invoice_id", "pk").values_list(
            "invoice_id", "from_status", "to_status", "reason", "actor_id"
        )
    )
    # Event ids come from a sequence a rollback does not rewind: deliveries are named by the
    # event's key instead. Rows are compared as sets (a batch writes them in another order).
    event_keys = dict(WebhookEvent.objects.values_list("pk", "key"))
    outbox = sorted(
        (topic, payload.get("invoice_id"), event_keys.get(payload.get("event_id")), str(payload))
        if topic != "webhook.deliver"
        else (topic, None, event_keys[payload["event_id"]], str(payload["endpoint_id"]))
        for topic, payload in OutboxMessage.objects.values_list("topic", "payload")
    )
    events = sorted((e.key, e.type, str(e.payload["data"])) for e in WebhookEvent.objects.all())
    credits = list(
        CreditEntry.objects.order_by("pk").values_list(
            "grant_id", "kind", "amount", "invoice_id", "note"
        )
    )
    counters = list(
        InvoiceNumberCounter.objects.order_by("series").values_list("series", "last_value")
    )
    return {
        "invoices": invoices,
        "transitions": transitions,
        "outbox": outbox,
        "events": events,
        "credits": credits,
        "counters": counters,
    }


def _finalize_run(settings: Any, batch: int) -> tuple[Any, int, dict[str, Any]]:
    settings.INVOICING_FINALIZE_BATCH = batch
    with CaptureQueriesContext(connection) as queries:
        result = billing_run(now=FINALIZE_AT, usage=late_usage, defer_pdfs=True)
    return result, len(queries.captured_queries), _snapshot()


def test_batches_finalize_exactly_what_one_by_one_finalizes(settings):
    _world()
    billing_run(now=DRAFT_AT, usage=drafted_usage)
    before = _snapshot()
    # contract 5 has December (finalized by the draft run: its grace ended) and January
    assert len(before["invoices"]) == 13

    mark = transaction.savepoint()
    alone, alone_queries, one_by_one = _finalize_run(settings, batch=1)
    transaction.savepoint_rollback(mark)
    assert _snapshot() == before  # the same drafts again
    batched, batched_queries, in_batches = _finalize_run(settings, batch=3)

    assert not alone.failed and not batched.failed
    assert (batched.finalized, batched.refreshed) == (alone.finalized, alone.refreshed) == (11, 0)
    assert batched.finalized_ids == alone.finalized_ids
    for part in ("invoices", "transitions", "outbox", "events", "credits", "counters"):
        assert in_batches[part] == one_by_one[part], part
    # the comparison covers what matters: numbers in both series, changed lines, draws
    numbers = sorted(i[3] for i in in_batches["invoices"] if i[3])
    assert numbers[:3] == ["EU-000001", "EU-000002", "EU-000003"]
    assert numbers[-1] == "INV-000008"
    assert len([c for c in in_batches["credits"] if c[1] == "drawdown"]) == 2
    lines_before = {i[0]: i[-1] for i in before["invoices"]}
    rewritten = [i[0] for i in in_batches["invoices"] if i[-1] != lines_before[i[0]]]
    assert 2 <= len(rewritten) < 11  # late usage changed some drafts, not all
    # drafted, the grant, the December invoice and these: each event delivered once
    assert len([o for o in in_batches["outbox"] if o[0] == "webhook.deliver"]) == 13 + 1 + 12
    assert batched_queries < alone_queries  # (batches of 3 here; the run's are 250)


def _due_drafts() -> list[DueDraft]:
    contracts = {c.pk: c for c in contracts_with_terms()}
    return [
        DueDraft(invoice.pk, contracts[invoice.contract_id])
        for invoice in Invoice.objects.filter(status=InvoiceStatus.DRAFT).order_by("contract_id")
    ]


def test_a_batch_that_fails_midway_keeps_nothing_and_the_retry_finalizes_each_once(
    monkeypatch,
):
    version = make_version()
    for _ in range(6):
        make_contract(version=version)
    billing_run(now=DRAFT_AT, usage=drafted_usage)
    real = billing_finalize.invoices_announce

    def dies(event_type: str, invoices: list[Invoice]) -> None:
        assert Invoice.objects.filter(status=InvoiceStatus.FINALIZED).count() == 6  # numbered
        raise RuntimeError("the worker died")

    monkeypatch.setattr(billing_finalize, "invoices_announce", dies)
    assert drafts_finalize(_due_drafts(), usage=late_usage, now=FINALIZE_AT) is None
    assert set(Invoice.objects.values_list("status", flat=True)) == {InvoiceStatus.DRAFT}
    assert not Invoice.objects.exclude(number=None).exists()
    assert not InvoiceNumberCounter.objects.filter(last_value__gt=0).exists()  # block given back
    assert not InvoiceTransition.objects.filter(to_status=InvoiceStatus.FINALIZED).exists()
    assert not OutboxMessage.objects.exists()

    monkeypatch.setattr(billing_finalize, "invoices_announce", real)
    retried = billing_run(now=FINALIZE_AT, usage=late_usage, defer_pdfs=True)
    again = billing_run(now=FINALIZE_AT, usage=late_usage, defer_pdfs=True)
    assert (retried.finalized, again.finalized) == (6, 0)
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"INV-{n:06d}" for n in range(1, 7)]
    finalized = InvoiceTransition.objects.filter(to_status=InvoiceStatus.FINALIZED)
    assert sorted(finalized.values_list("invoice_id", flat=True)) == sorted(
        Invoice.objects.values_list("pk", flat=True)
    )
    assert OutboxMessage.objects.filter(topic="stripe.invoice.finalize").count() == 6


def test_when_a_batch_fails_the_run_finalizes_its_drafts_one_by_one(monkeypatch, settings):
    """A batch that cannot be written (here: its outbox INSERT fails) is rolled back and each
    of its drafts is finalized on its own, as before batches; nothing is reported failed."""
    settings.INVOICING_FINALIZE_BATCH = 4
    version = make_version()
    for _ in range(5):
        make_contract(version=version)
    billing_run(now=DRAFT_AT, usage=drafted_usage)

    def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(billing_finalize, "outbox_enqueue_many", broken)
    result = billing_run(now=FINALIZE_AT, usage=late_usage, defer_pdfs=True)
    assert (result.finalized, result.failed) == (5, [])
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"INV-{n:06d}" for n in range(1, 6)]
    assert InvoiceTransition.objects.filter(to_status=InvoiceStatus.FINALIZED).count() == 5
    assert OutboxMessage.objects.filter(topic="stripe.invoice.finalize").count() == 5


def test_a_draft_finalized_meanwhile_is_left_out_of_the_batch():
    version = make_version()
    for _ in range(3):
        make_contract(version=version)
    billing_run(now=DRAFT_AT, usage=drafted_usage)
    drafts = _due_drafts()
    first = drafts_finalize(drafts[:1], usage=late_usage, now=FINALIZE_AT)
    rest = drafts_finalize(drafts, usage=late_usage, now=FINALIZE_AT)
    assert first is not None and rest is not None
    assert [i.pk for i in first] == [drafts[0].invoice_id]
    assert [i.pk for i in rest] == [d.invoice_id for d in drafts[1:]]
    assert [i.number for i in first + rest] == ["INV-000001", "INV-000002", "INV-000003"]
    assert InvoiceTransition.objects.filter(to_status=InvoiceStatus.FINALIZED).count() == 3


@pytest.mark.django_db(transaction=True)
def test_two_runs_finalizing_in_batches_at_once_finalize_each_draft_once(settings):
    settings.INVOICING_FINALIZE_BATCH = 4
    version = make_version()
    shared = CustomerFactory(external_id="shared")
    grant = credit_grant_create(
        customer=shared,
        kind="promotional",
        amount="150.00",
        currency="USD",
        effective_at=datetime(2025, 1, 1, tzinfo=UTC),
    )
    for n in range(20):
        make_contract(
            shared if n in (3, 11) else None,
            version=version,
            invoice_series="EU" if n % 3 == 0 else "INV",
        )
    billing_run(now=DRAFT_AT, usage=drafted_usage)
    barrier = threading.Barrier(2)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(billing_run(now=FINALIZE_AT, usage=late_usage, defer_pdfs=True))
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
    assert sum(result.finalized for result in results) == 20
    invoices = list(Invoice.objects.all())
    assert {i.status for i in invoices} == {InvoiceStatus.FINALIZED}
    for series, count in (("EU", 7), ("INV", 13)):
        numbers = sorted(i.number for i in invoices if i.series == series)
        assert numbers == [f"{series}-{n:06d}" for n in range(1, count + 1)]
    finalized = InvoiceTransition.objects.filter(to_status=InvoiceStatus.FINALIZED)
    assert sorted(finalized.values_list("invoice_id", flat=True)) == sorted(i.pk for i in invoices)
    pushes = OutboxMessage.objects.filter(topic="stripe.invoice.finalize")
    assert sorted(p["invoice_id"] for p in pushes.values_list("payload", flat=True)) == sorted(
        i.pk for i in invoices
    )
    assert WebhookEvent.objects.filter(type="invoice.finalized").count() == 20
    drawn = CreditEntry.objects.filter(grant=grant, kind="drawdown").values_list(
        "amount", flat=True
    )
    assert -sum(drawn) == Decimal("150.00")  # all of it, never more


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_inside_a_batch_leaves_nothing_and_the_retry_finalizes_each_once(
    monkeypatch,
):
    """The batch's connection is terminated by the server after the numbers were taken (as
    when the worker dies): PostgreSQL rolls the batch back; the next run finalizes every draft
    once, with the numbers the dead batch had taken."""
    version = make_version()
    for _ in range(5):
        make_contract(version=version)
    billing_run(now=DRAFT_AT, usage=drafted_usage)
    numbered, killed = threading.Event(), threading.Event()
    backend: list[int] = []
    real = billing_finalize.invoices_announce

    def pause(event_type: str, invoices: list[Invoice]) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend.append(cursor.fetchone()[0])
        numbered.set()
        killed.wait(60)
        real(event_type, invoices)

    monkeypatch.setattr(billing_finalize, "invoices_announce", pause)
    outcome: list[Any] = []

    def worker() -> None:
        try:
            outcome.append(drafts_finalize(_due_drafts(), usage=late_usage, now=FINALIZE_AT))
        except BaseException as exc:  # the dead connection may surface either way
            outcome.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    assert numbered.wait(60)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [backend[0]])
    killed.set()
    thread.join(60)
    assert (outcome and outcome[0] is None) or isinstance(outcome[0], Exception)
    assert set(Invoice.objects.values_list("status", flat=True)) == {InvoiceStatus.DRAFT}
    assert not InvoiceNumberCounter.objects.filter(last_value__gt=0).exists()
    assert not OutboxMessage.objects.filter(topic="stripe.invoice.finalize").exists()

    monkeypatch.setattr(billing_finalize, "invoices_announce", real)
    retried = billing_run(now=FINALIZE_AT, usage=late_usage, defer_pdfs=True)
    assert (retried.finalized, retried.failed) == (5, [])
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"INV-{n:06d}" for n in range(1, 6)]
    assert InvoiceTransition.objects.filter(to_status=InvoiceStatus.FINALIZED).count() == 5
    assert OutboxMessage.objects.filter(topic="stripe.invoice.finalize").count() == 5
