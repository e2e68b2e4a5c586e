"""API for corrections: credit notes (list, read, create full or by line), void, re-issue.
Scopes, customer-bound keys, the one error shape, size limits, Idempotency-Key replay."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection

from accounts.api.idempotency_models import IdempotencyKey
from accounts.services import customer_alias_add
from invoicing.models import CreditNote, Invoice, InvoiceTransition
from invoicing.services.billing import billing_run
from invoicing.services.invoices import invoice_mark_paid
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract
from tests.usage_sources import fixed_usage

USAGE = fixed_usage({"api_calls": 1000})  # 100.00 platform fee + 10.00 usage
NOW = datetime(2026, 2, 3, tzinfo=UTC)


def usage_source():
    return USAGE


@pytest.fixture(autouse=True)
def _no_metering(settings):
    settings.INVOICING_USAGE_SOURCE = f"{__name__}.usage_source"


def issue_for(*external_ids: str) -> list[Invoice]:
    for external_id in external_ids:
        make_contract(CustomerFactory(external_id=external_id))
    billing_run(now=NOW, usage=USAGE)
    return list(Invoice.objects.order_by("pk"))


def notes_url(invoice: Invoice) -> str:
    return f"/api/v1/invoices/{invoice.number}/credit-notes"


@pytest.mark.django_db
def test_partial_credit_note_by_line_then_read_it_back(admin_api, read_api):
    (invoice,) = issue_for("acme")
    fee = invoice.lines.get(kind="fixed")
    detail = read_api.get(f"/api/v1/invoices/{invoice.number}").json()
    assert {"id": fee.pk, "kind": "fixed"}.items() <= detail["lines"][0].items()
    response = admin_api.post(
        notes_url(invoice),
        {"reason": "Outage on Jan 3", "lines": [{"line_id": fee.pk, "amount": "25.00"}]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {k: body[k] for k in ("number", "invoice", "customer", "outcome", "total")} == {
        "number": "CN-000001",
        "invoice": "INV-000001",
        "customer": "acme",
        "outcome": "reduce_amount_due",
        "total": "25.00",
    }
    assert body["lines"] == [{"line_id": fee.pk, "description": fee.description, "amount": "25.00"}]
    assert read_api.get("/api/v1/credit-notes/CN-000001").json() == body
    after = read_api.get(f"/api/v1/invoices/{invoice.number}").json()
    assert (after["total"], after["amount_due"]) == ("110.00", "85.00")
    assert after["credit_notes"][0]["number"] == "CN-000001"


@pytest.mark.django_db
def test_full_credit_note_as_customer_credit_on_a_paid_invoice(admin_api):
    (invoice,) = issue_for("acme")
    invoice_mark_paid(invoice=invoice, now=NOW)
    refused = admin_api.post(notes_url(invoice), {"reason": "x"}, format="json")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "already_paid"
    response = admin_api.post(
        notes_url(invoice), {"reason": "Goodwill", "outcome": "customer_credit"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["total"], body["outcome"]) == ("110.00", "customer_credit")
    assert body["credit_grant"] == CreditNote.objects.get().credit_grant_id is not None


@pytest.mark.django_db
def test_credit_note_validation_errors_in_the_one_error_shape(admin_api):
    (invoice,) = issue_for("acme")
    usage = invoice.lines.get(kind="usage")
    cases = [
        ({"lines": [{"line_id": usage.pk, "amount": "1.00"}]}, "validation_error", "reason"),
        ({"reason": "r", "outcome": "refund"}, "validation_error", "outcome"),
        ({"reason": "r", "lines": []}, "validation_error", "lines"),
        (
            {
                "reason": "r",
                "lines": [
                    {"line_id": usage.pk, "amount": "1"},
                    {"line_id": usage.pk, "amount": "2"},
                ],
            },
            "validation_error",
            "lines",
        ),
        (
            {"reason": "r", "lines": [{"line_id": usage.pk, "amount": 1.5}]},
            "invalid_decimal",
            "lines[0].amount",
        ),
        (
            {"reason": "r", "lines": [{"line_id": usage.pk, "amount": "10.01"}]},
            "invalid_credit_note",
            f"lines.{usage.pk}",
        ),
        (
            {"reason": "r", "lines": [{"line_id": usage.pk, "amount": "0.001"}]},
            "invalid_credit_note",
            f"lines.{usage.pk}",
        ),
        (
            {"reason": "r", "lines": [{"line_id": 999999, "amount": "1.00"}]},
            "invalid_credit_note",
            "lines.999999",
        ),
        ({"reason": "x" * 2001}, "validation_error", "reason"),
        (
            {"reason": "r", "lines": [{"line_id": usage.pk, "amount": "0.01"}] * 501},
            "validation_error",
            "lines",
        ),
    ]
    for payload, code, field in cases:
        response = admin_api.post(notes_url(invoice), payload, format="json")
        assert response.status_code in (400, 409), (payload, response.json())
        error = response.json()["error"]
        assert (error["code"], field in error["details"]) == (code, True), (payload, error)
    assert not CreditNote.objects.exists()


@pytest.mark.django_db
def test_idempotency_key_replays_the_first_answer_and_refuses_another_request(admin_api):
    (invoice,) = issue_for("acme")
    payload = {
        "reason": "Outage",
        "lines": [{"line_id": invoice.lines.get(kind="usage").pk, "amount": "4.00"}],
    }
    first = admin_api.post(
        notes_url(invoice), payload, format="json", HTTP_IDEMPOTENCY_KEY="retry-1"
    )
    again = admin_api.post(
        notes_url(invoice), payload, format="json", HTTP_IDEMPOTENCY_KEY="retry-1"
    )
    assert first.status_code == again.status_code == 201
    assert (first["Idempotent-Replayed"], again["Idempotent-Replayed"]) == ("false", "true")
    assert again.json() == first.json()
    assert CreditNote.objects.count() == 1
    other = admin_api.post(
        notes_url(invoice),
        {**payload, "reason": "Other"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="retry-1",
    )
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    # Without a key, a retry is a second note; a new key is a new request.
    assert (
        admin_api.post(
            notes_url(invoice), payload, format="json", HTTP_IDEMPOTENCY_KEY="retry-2"
        ).status_code
        == 201
    )
    assert CreditNote.objects.count() == 2
    bad = admin_api.post(notes_url(invoice), payload, format="json", HTTP_IDEMPOTENCY_KEY="k" * 256)
    assert bad.json()["error"]["code"] == "invalid_idempotency_key"


@pytest.mark.django_db
def test_a_failed_request_stores_no_key_so_the_retry_runs(admin_api):
    (invoice,) = issue_for("acme")
    invoice_mark_paid(invoice=invoice, now=NOW)
    failed = admin_api.post(
        notes_url(invoice), {"reason": "r"}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert failed.status_code == 409
    assert not IdempotencyKey.objects.exists()
    ok = admin_api.post(
        notes_url(invoice),
        {"reason": "r", "outcome": "customer_credit"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    assert ok.status_code == 201


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_with_one_key_make_one_note(api_client_for):
    (invoice,) = issue_for("acme")
    payload = {
        "reason": "Outage",
        "lines": [{"line_id": invoice.lines.get(kind="usage").pk, "amount": "4.00"}],
    }
    clients = [api_client_for("admin")]
    clients.append(clients[0])
    barrier = threading.Barrier(2)
    answers: list[tuple[int, dict]] = []

    def post(client) -> None:
        try:
            barrier.wait()
            response = client.post(
                notes_url(invoice), payload, format="json", HTTP_IDEMPOTENCY_KEY="same"
            )
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in answers] == [201, 201]
    assert answers[0][1] == answers[1][1]
    assert CreditNote.objects.count() == 1


@pytest.mark.django_db
def test_list_filters_by_customer_and_invoice_with_cursor_pages(admin_api, read_api):
    acme, globex = issue_for("acme", "globex")
    for invoice in (acme, globex, acme):
        line = invoice.lines.get(kind="usage")
        assert (
            admin_api.post(
                notes_url(invoice),
                {"reason": "r", "lines": [{"line_id": line.pk, "amount": "1.00"}]},
                format="json",
            ).status_code
            == 201
        )
    everything = read_api.get("/api/v1/credit-notes").json()
    assert [n["number"] for n in everything["results"]] == ["CN-000003", "CN-000002", "CN-000001"]
    mine = read_api.get("/api/v1/credit-notes?customer=acme").json()
    assert [n["number"] for n in mine["results"]] == ["CN-000003", "CN-000001"]
    by_invoice = read_api.get(f"/api/v1/credit-notes?invoice={globex.number}").json()
    assert [n["number"] for n in by_invoice["results"]] == ["CN-000002"]
    page = read_api.get("/api/v1/credit-notes?limit=2").json()
    assert len(page["results"]) == 2 and page["next"]
    rest = read_api.get(page["next"]).json()
    assert [n["number"] for n in rest["results"]] == ["CN-000001"]
    unknown = read_api.get("/api/v1/credit-notes?customer=nobody")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_customer_filter_accepts_an_alias_and_a_bound_key_cannot_use_anothers(
    admin_api, read_api, api_client_for
):
    acme, globex = issue_for("acme", "globex")
    for invoice in (acme, globex):
        assert admin_api.post(notes_url(invoice), {"reason": "r"}, format="json").status_code == 201
    customer_alias_add(customer=acme.customer, alias="lago-sub-acme")
    customer_alias_add(customer=globex.customer, alias="lago-sub-globex")
    by_alias = read_api.get("/api/v1/credit-notes?customer=lago-sub-acme")
    assert by_alias.status_code == 200, by_alias.content
    assert [n["customer"] for n in by_alias.json()["results"]] == ["acme"]
    bound = api_client_for("read", customer=acme.customer)
    assert bound.get("/api/v1/credit-notes?customer=lago-sub-acme").status_code == 200
    assert bound.get("/api/v1/credit-notes?customer=lago-sub-globex").status_code == 404


@pytest.mark.django_db
def test_customer_bound_key_sees_only_its_notes_and_cannot_correct(admin_api, api_client_for):
    acme, globex = issue_for("acme", "globex")
    for invoice in (acme, globex):
        admin_api.post(notes_url(invoice), {"reason": "r"}, format="json")
    bound = api_client_for("admin", customer=acme.customer)
    listed = bound.get("/api/v1/credit-notes").json()
    assert [n["customer"] for n in listed["results"]] == ["acme"]
    assert bound.get("/api/v1/credit-notes/CN-000002").status_code == 404
    assert bound.get("/api/v1/credit-notes?customer=globex").status_code == 404
    assert bound.get(f"/api/v1/credit-notes?invoice={globex.number}").json()["results"] == []
    for url, payload in (
        (notes_url(acme), {"reason": "r"}),
        (f"/api/v1/invoices/{acme.number}/void", {"reason": "r"}),
        (f"/api/v1/invoices/{acme.number}/reissue", {}),
    ):
        response = bound.post(url, payload, format="json")
        assert response.status_code == 403, url
        assert response.json()["error"]["code"] == "bound_key_forbidden"


@pytest.mark.django_db
def test_scopes_read_reads_admin_writes(read_api, api_client_for):
    (invoice,) = issue_for("acme")
    ingest = api_client_for("ingest")
    assert ingest.get("/api/v1/credit-notes").status_code == 403
    for url in (
        notes_url(invoice),
        f"/api/v1/invoices/{invoice.number}/void",
        f"/api/v1/invoices/{invoice.number}/reissue",
    ):
        response = read_api.post(url, {"reason": "r"}, format="json")
        assert response.status_code == 403
        assert "scope 'admin'" in response.json()["error"]["message"]
    assert Invoice.objects.get().status == "finalized"


@pytest.mark.django_db
def test_void_then_reissue_with_links_both_ways(admin_api, read_api):
    (invoice,) = issue_for("acme")
    url = f"/api/v1/invoices/{invoice.number}"
    missing = admin_api.post(f"{url}/void", {}, format="json")
    assert missing.json()["error"]["details"] == {"reason": ["This field is required."]}
    voided = admin_api.post(f"{url}/void", {"reason": "Wrong PO"}, format="json")
    assert voided.status_code == 200, voided.json()
    assert (voided.json()["status"], voided.json()["amount_due"]) == ("void", "0.00")
    twice = admin_api.post(f"{url}/void", {"reason": "Wrong PO"}, format="json")
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "invalid_transition")

    reissued = admin_api.post(f"{url}/reissue", {}, format="json")
    assert reissued.status_code == 201, reissued.json()
    body = reissued.json()
    assert {k: body[k] for k in ("number", "status", "kind", "replaces", "total")} == {
        "number": "INV-000002",
        "status": "finalized",
        "kind": "reissue",
        "replaces": "INV-000001",
        "total": "110.00",
    }
    assert read_api.get(url).json()["replaced_by"] == "INV-000002"
    again = admin_api.post(f"{url}/reissue", {}, format="json")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_reissued")
    audit = InvoiceTransition.objects.filter(invoice__number="INV-000002").order_by("pk")
    assert [t.reason for t in audit] == ["Re-issue of INV-000001 (voided: Wrong PO)", "finalized"]


@pytest.mark.django_db
def test_void_and_reissue_in_one_call_and_refusals(admin_api):
    first, paid = issue_for("acme", "globex")
    invoice_mark_paid(invoice=paid, now=NOW)
    response = admin_api.post(
        f"/api/v1/invoices/{first.number}/reissue",
        {"void_reason": "Customer changed entity"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="void-reissue-1",
    )
    assert response.status_code == 201, response.json()
    replay = admin_api.post(
        f"/api/v1/invoices/{first.number}/reissue",
        {"void_reason": "Customer changed entity"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="void-reissue-1",
    )
    assert (replay.status_code, replay.json()) == (201, response.json())
    assert Invoice.objects.filter(replaces=first).count() == 1
    first.refresh_from_db()
    assert (first.status, first.void_reason) == ("void", "Customer changed entity")
    assert first.voided_at is not None
    refused = admin_api.post(
        f"/api/v1/invoices/{paid.number}/reissue", {"void_reason": "x"}, format="json"
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "invalid_transition")
    not_void = admin_api.post(f"/api/v1/invoices/{paid.number}/reissue", {}, format="json")
    assert not_void.json()["error"]["code"] == "not_void"
    assert Invoice.objects.get(pk=paid.pk).status == "paid"
    unknown = admin_api.post("/api/v1/invoices/INV-999999/void", {"reason": "x"}, format="json")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")


@pytest.mark.django_db
def test_schema_documents_the_corrections(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path, method in (
        ("/api/v1/credit-notes", "get"),
        ("/api/v1/credit-notes/{number}", "get"),
        ("/api/v1/invoices/{number}/credit-notes", "post"),
        ("/api/v1/invoices/{number}/void", "post"),
        ("/api/v1/invoices/{number}/reissue", "post"),
    ):
        assert method in schema["paths"][path], path
    create = schema["paths"]["/api/v1/invoices/{number}/credit-notes"]["post"]
    assert "requestBody" in create
    assert "Idempotency-Key" in [p["name"] for p in create["parameters"]]


@pytest.mark.django_db
def test_api_changes_are_audited_with_the_keys_creator_and_logged_with_the_key(caplog):
    from django.contrib.auth.models import User
    from rest_framework.test import APIClient

    from accounts.services import api_key_create
    from invoicing.models import InvoiceTransition

    (invoice,) = issue_for("acme")
    finance = User.objects.create_user("fin-ops", is_staff=True)
    issued = api_key_create(name="finance automation", scope="admin", created_by=finance)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    with caplog.at_level("INFO", logger="invoicing.api.corrections"):
        response = client.post(
            f"/api/v1/invoices/{invoice.number}/void", {"reason": "Duplicate"}, format="json"
        )
    assert response.status_code == 200, response.json()
    transition = InvoiceTransition.objects.get(invoice=invoice, to_status="void")
    assert (transition.actor, transition.reason) == (finance, "Duplicate")
    (record,) = [r for r in caplog.records if getattr(r, "event", "") == "invoice_voided"]
    assert (record.api_key_prefix, record.api_key_name, record.invoice) == (
        issued.api_key.prefix,
        "finance automation",
        invoice.number,
    )
    assert issued.plaintext not in caplog.text
