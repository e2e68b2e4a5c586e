"""Collections without Stripe: reminders for invoices sent for manual payment, each step once
(run twice, two concurrent callers), resolution by a manual payment, the accounts-receivable
aging report (selector, API JSON/CSV, scopes) and the tax-rate API with its history."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection

from accounts.models import ContactRole
from billingsite.models import OutboxMessage
from billingsite.money import amount_of
from billingsite.outbox.services import outbox_dispatch
from invoicing.collections.schedule import DunningSchedule, parse_days
from invoicing.collections.selectors import aging_bucket, aging_invoices, ar_aging
from invoicing.collections.services import collection_advance, collections_advance_all
from invoicing.models import DunningStep, Invoice, TaxRate
from invoicing.services.billing import billing_run
from invoicing.services.credit_notes import credit_note_create
from invoicing.services.invoices import invoice_mark_paid
from tests.factories import ContactFactory, CustomerFactory
from tests.invoicing.factories import make_contract, make_version
from tests.usage_sources import fixed_usage

ISSUED = datetime(2026, 2, 3, tzinfo=UTC)
SCHEDULE = DunningSchedule(retry_days=(3, 5, 7), reminder_days=(-3, 0, 3, 7))


def sent_invoice(net_days: int = 30, customer=None, version=None) -> Invoice:  # type: ignore[no-untyped-def]
    customer = customer or CustomerFactory()
    contract = make_contract(
        customer, version=version, net_days=net_days, collection_method="send_invoice"
    )
    billing_run(now=ISSUED, contract_ids=[contract.pk], usage=fixed_usage({"api_calls": 100}))
    return Invoice.objects.get(contract=contract)


def outcomes(invoice: Invoice) -> dict[str, str]:
    return dict(DunningStep.objects.filter(invoice=invoice).values_list("step", "outcome"))


def test_the_schedule_is_read_from_settings(settings):
    settings.COLLECTIONS_RETRY_DAYS = parse_days("2, 4")
    settings.COLLECTIONS_REMINDER_DAYS = parse_days("0,-1")
    settings.COLLECTIONS_SUSPEND_AFTER_DAYS = None
    schedule = DunningSchedule.from_settings()
    assert (schedule.retry_days, schedule.reminder_days) == ((2, 4), (-1, 0))
    assert schedule.suspension(ISSUED) is None


@pytest.mark.django_db
def test_reminders_before_on_and_after_the_due_date_each_once(mailoutbox):
    invoice = sent_invoice()
    ContactFactory(customer=invoice.customer, role=ContactRole.BILLING, email="ap@x.example")
    ContactFactory(customer=invoice.customer, role=ContactRole.TECHNICAL, email="dev@x.example")
    due = invoice.due_at
    assert (
        collection_advance(invoice_id=invoice.pk, now=due - timedelta(days=4), schedule=SCHEDULE)
        == []
    )
    assert collection_advance(
        invoice_id=invoice.pk, now=due - timedelta(days=3), schedule=SCHEDULE
    ) == ["reminder:-3"]
    # run twice: same result, no second row or outbox message
    assert (
        collection_advance(invoice_id=invoice.pk, now=due - timedelta(days=2), schedule=SCHEDULE)
        == []
    )
    assert OutboxMessage.objects.filter(topic="collections.reminder").count() == 1
    outbox_dispatch()
    assert mailoutbox[0].to == ["ap@x.example", invoice.customer.email]
    assert "is due in 3 days" in mailoutbox[0].body
    assert collection_advance(invoice_id=invoice.pk, now=due, schedule=SCHEDULE) == [
        "reminder:0",
        "past_due",
    ]
    invoice.refresh_from_db()
    invoice.customer.refresh_from_db()
    assert invoice.status == "past_due" and invoice.customer.past_due_since == due
    assert outcomes(invoice) == {
        "reminder:-3": "done",
        "reminder:0": "scheduled",
        "past_due": "done",
    }
    # paid by hand: the sweep resolves it, the flag clears, a queued reminder is not sent
    invoice_mark_paid(invoice=invoice, now=due + timedelta(hours=1))
    counts = collections_advance_all(now=due + timedelta(hours=2), schedule=SCHEDULE)
    assert counts == {"invoices": 1, "steps": 1, "failed": 0}
    invoice.customer.refresh_from_db()
    assert invoice.customer.past_due_since is None
    outbox_dispatch()
    assert len(mailoutbox) == 1
    assert outcomes(invoice)["reminder:0"] == "skipped"
    assert collections_advance_all(now=due + timedelta(days=30), schedule=SCHEDULE)["steps"] == 0


@pytest.mark.django_db
def test_a_charged_invoice_is_not_chased_until_a_payment_fails():
    customer = CustomerFactory()
    contract = make_contract(customer, net_days=0, collection_method="charge_automatically")
    billing_run(now=ISSUED, contract_ids=[contract.pk], usage=fixed_usage({"api_calls": 1}))
    invoice = Invoice.objects.get(contract=contract)
    later = ISSUED + timedelta(days=40)
    assert collection_advance(invoice_id=invoice.pk, now=later, schedule=SCHEDULE) == []
    assert collections_advance_all(now=later, schedule=SCHEDULE)["invoices"] == 0
    invoice.refresh_from_db()
    assert invoice.status == "finalized"


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_advances_take_each_step_once():
    invoice = sent_invoice()
    now = invoice.due_at + timedelta(days=1)
    barrier = threading.Barrier(2)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(collection_advance(invoice_id=invoice.pk, now=now, schedule=SCHEDULE))
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert sorted(results, key=len) == [[], ["reminder:0", "past_due"]]
    assert OutboxMessage.objects.filter(topic="collections.reminder").count() == 1
    assert invoice.transitions.filter(to_status="past_due").count() == 1


@pytest.mark.parametrize(
    ("days", "bucket"),
    [(-1, "current"), (0.01, "1-30"), (30.9, "1-30"), (31, "31-60"), (61, "61-90"), (91, "90+")],
)
def test_aging_buckets(days, bucket):
    assert aging_bucket(ISSUED, ISSUED + timedelta(days=days)) == bucket


@pytest.mark.django_db
def test_ar_aging_sums_the_open_amounts_due_per_currency_and_bucket(api_client_for):
    customer = CustomerFactory()
    by_net = {net: sent_invoice(net, customer=customer) for net in (0, 30, 60, 90)}
    yen = make_version(
        [
            {
                "key": "fee",
                "name": "Fee",
                "kind": "fixed",
                "price": {"model": "flat", "amount": "1000"},
            }
        ],
        key="yen",
        currency="JPY",
    )
    jpy = sent_invoice(10, customer=CustomerFactory(currency="JPY"), version=yen)
    credit_note_create(
        invoice=by_net[30],
        reason="goodwill",
        outcome="reduce_amount_due",
        lines={by_net[30].lines.first().pk: Decimal("10.00")},
    )
    invoice_mark_paid(invoice=by_net[90], now=ISSUED)  # paid: not in the report
    now = datetime(2026, 4, 10, tzinfo=UTC)  # due Feb 3 (66 d), Mar 5 (36 d), Apr 4 (6 d)
    yen_row, usd = ar_aging(now=now)
    assert usd.currency == "USD" and usd.invoices == 3
    assert usd.buckets == {
        "current": Decimal("0.00"),
        "1-30": Decimal("101.00"),
        "31-60": Decimal("91.00"),
        "61-90": Decimal("101.00"),
        "90+": Decimal("0.00"),
    }
    open_due = [i.amount_due for i in aging_invoices(now=now) if i.currency == "USD"]
    assert usd.total == sum(open_due, Decimal(0)) == Decimal("293.00")
    assert (yen_row.currency, yen_row.total, yen_row.buckets["31-60"]) == ("JPY", 1000, 1000)
    assert amount_of(jpy.total) == 1000

    response = api_client_for("read").get("/api/v1/reports/ar-aging")
    assert response.status_code == 200
    body = response.json()
    assert [c["currency"] for c in body["currencies"]] == ["JPY", "USD"]
    assert body["currencies"][1]["total"] == "293.00"
    csv_response = api_client_for("read").get("/api/v1/reports/ar-aging?output=csv")
    lines = csv_response.content.decode().splitlines()
    assert csv_response["Content-Type"].startswith("text/csv")
    assert lines[0] == "currency,current,1-30,31-60,61-90,90+,total,invoices"
    assert lines[2].startswith("USD,") and lines[2].endswith(",293.00,3")
    assert api_client_for("read").get("/api/v1/reports/ar-aging?output=xml").status_code == 400
    bound = api_client_for("read", customer=CustomerFactory()).get("/api/v1/reports/ar-aging")
    assert bound.json()["currencies"] == []  # a bound key sees its own customer's only


@pytest.mark.django_db
def test_tax_rate_api_creates_lists_validates_and_audits(api_client_for):
    admin_api = api_client_for("admin")
    body = {
        "name": "VAT",
        "jurisdiction": "de",
        "rate": "19",
        "inclusive": False,
        "effective_from": "2026-01-01",
    }
    created = admin_api.post("/api/v1/tax-rates", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["jurisdiction"] == "DE" and created.json()["rate"] == "19"
    rate = TaxRate.objects.get()
    assert rate.history.get().history_user == admin_api.api_key.created_by
    listed = api_client_for("read").get("/api/v1/tax-rates?jurisdiction=DE").json()
    assert [r["id"] for r in listed["results"]] == [rate.pk]
    bad = admin_api.post("/api/v1/tax-rates", {**body, "rate": "101"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"
    backwards = admin_api.post(
        "/api/v1/tax-rates", {**body, "effective_to": "2025-01-01"}, format="json"
    )
    assert backwards.status_code == 400
    assert api_client_for("read").post("/api/v1/tax-rates", body, format="json").status_code == 403


@pytest.mark.django_db
def test_the_admin_shows_the_aging_report_and_the_steps_on_the_invoice_page(client):
    from tests.disputes.factories import staff

    invoice = sent_invoice()
    collection_advance(
        invoice_id=invoice.pk, now=invoice.due_at + timedelta(days=1), schedule=SCHEDULE
    )
    client.force_login(staff("support"))
    report = client.get("/admin/invoicing/dunningstep/ar-aging/")
    assert report.status_code == 200
    assert invoice.number in report.content.decode()
    with time_machine.travel(invoice.due_at + timedelta(days=1), tick=False):
        csv_file = client.get("/admin/invoicing/dunningstep/ar-aging/?format=csv")
    assert csv_file.content.decode().splitlines()[1] == "USD,0.00,101.00,0.00,0.00,0.00,101.00,1"
    page = client.get(f"/admin/invoicing/invoice/{invoice.pk}/change/").content.decode()
    assert "reminder:0" in page and "past_due" in page
    c360 = client.get(f"/admin/accounts/customer/{invoice.customer_id}/360/").content.decode()
    assert "Past due since" in c360 and "reminder:0" in c360
