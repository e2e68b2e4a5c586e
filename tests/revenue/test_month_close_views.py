"""The month close over the API (read scope, unbound keys, YYYY-MM) and in the admin (Finance
only, HTML and CSV), with the figures of a small month worked by hand."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from django.test import Client

from revenue.services.recognition import post_pending
from tests.disputes.factories import staff
from tests.revenue.builders import at, contract_for, invoice_with, payment

pytestmark = pytest.mark.django_db


@pytest.fixture
def january(customer):  # type: ignore[no-untyped-def]
    # 310.00 over January (31 days): all of it recognized on Jan 31; 100.00 paid.
    invoice = invoice_with(
        contract_for(customer),
        [{"kind": "fixed", "amount": "310.00", "charge_key": "platform"}],
        issued=at(2026, 1, 1),
        start=date(2026, 1, 1),
        end=date(2026, 2, 1),
    )
    payment(invoice, "100.00", at(2026, 1, 20))
    post_pending(today=date(2026, 1, 31))
    return invoice


def test_api_answers_the_close(api_client_for, january) -> None:  # type: ignore[no-untyped-def]
    answer = api_client_for("read").get("/api/v1/reports/month-close", {"month": "2026-01"})
    assert answer.status_code == 200, answer.content
    usd = answer.json()["currencies"]["USD"]
    assert usd["deferred_revenue"] == {
        "opening": "0.00",
        "billed": "310.00",
        "recognized": "310.00",
        "closing": "0.00",
    }
    assert usd["recognized_revenue"]["by_customer"] == {"acme": "310.00"}
    assert usd["billed_vs_collected"]["collected"] == "100.00"
    assert usd["accounts_receivable"] == {"opening": "0.00", "closing": "210.00"}
    assert usd["ties_to_invoices"]["ok"] is True


@pytest.mark.parametrize("month", ["", "2026-13", "2026-1", "26-01", "2026-01-01"])
def test_api_refuses_a_malformed_month(api_client_for, month: str) -> None:  # type: ignore[no-untyped-def]
    answer = api_client_for("read").get("/api/v1/reports/month-close", {"month": month})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_month"


def test_api_refuses_a_key_bound_to_a_customer(api_client_for, customer) -> None:  # type: ignore[no-untyped-def]
    answer = api_client_for("admin", customer=customer).get(
        "/api/v1/reports/month-close", {"month": "2026-01"}
    )
    assert answer.status_code == 403


def test_unposted_invoices_show_as_not_tying(api_client_for, customer) -> None:  # type: ignore[no-untyped-def]
    invoice_with(
        contract_for(customer),
        [{"kind": "usage", "amount": "12.34"}],
        issued=at(2026, 3, 2),
        start=date(2026, 2, 1),
        end=date(2026, 3, 1),
    )
    usd = (
        api_client_for("read")
        .get("/api/v1/reports/month-close", {"month": "2026-03"})
        .json()["currencies"]["USD"]
    )
    assert usd["ties_to_invoices"] == {
        "journal_billed": "0.00",
        "invoices_billed": "12.34",
        "difference": "-12.34",
        "unposted_sources": 1,
        "ok": False,
    }


def test_admin_report_for_finance_with_csv(january) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(staff("finance"))
    page = client.get("/admin/revenue/journalentry/month-close/", {"month": "2026-01"})
    assert page.status_code == 200
    assert b"Ties to the invoices to the cent: ok" in page.content
    download = client.get(
        "/admin/revenue/journalentry/month-close/", {"month": "2026-01", "format": "csv"}
    )
    rows = list(csv.reader(io.StringIO(download.content.decode())))
    assert rows[0] == ["section", "currency", "key", "value"]
    assert ["deferred_revenue", "USD", "closing", "0.00"] in rows
    assert ["recognized_revenue.by_charge", "USD", "platform", "310.00"] in rows
    assert ["ties_to_invoices", "USD", "ok", "True"] in rows


def test_admin_report_is_not_for_support() -> None:
    client = Client()
    client.force_login(staff("support"))
    assert client.get("/admin/revenue/journalentry/month-close/").status_code == 403


def test_the_finance_dashboard_shows_the_deferred_revenue_roll_forward(january) -> None:  # type: ignore[no-untyped-def]
    """The revenue app fills the dashboard's deferred-revenue panel from the month close."""
    from billingsite.finance import DEFERRED_REVENUE, finance_section

    section = finance_section(DEFERRED_REVENUE)
    assert section is not None
    (usd,) = section.func(date(2026, 1, 31))
    assert usd.currency == "USD"
    assert usd.columns == ["Opening", "Billed", "Recognized", "Closing"]
    assert usd.rows[-1] == ("2026-01", ["0.00", "310.00", "310.00", "0.00"])
    client = Client()
    client.force_login(staff("finance"))
    html = client.get("/admin/reporting/finance/").content.decode()
    assert "Deferred revenue in USD" in html
