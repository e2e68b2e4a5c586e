"""The exact requests the gateway sends, through the recording HTTP client.

These cover the calls localstripe lacks (billing portal, Checkout, disputes, invoice
finalize/send, created-range lists) and the request details every call shares.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings

from invoicing.stripe.gateway import StripeGateway
from invoicing.stripe.keys import idempotency_key
from tests.stripe.recording import RecordedRequest, RecordingHTTPClient
from tests.stripe_support import LOCALSTRIPE_API_KEY, fixture_object

START = datetime(2026, 10, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)


def only(client: RecordingHTTPClient, method: str, path: str) -> RecordedRequest:
    [request] = client.requests_to(method, path)
    return request


def test_every_request_carries_the_pinned_version_and_the_key_from_settings(
    recording_gateway: StripeGateway, recording_client: RecordingHTTPClient
) -> None:
    recording_gateway.customer_retrieve("cus_1")
    recording_gateway.customer_create(idempotency_key="customer:1:create", email="a@example.com")
    assert len(recording_client.requests) == 2
    for request in recording_client.requests:
        assert request.stripe_version == settings.STRIPE_API_VERSION == "2026-10-28.endive"
        assert request.headers["Authorization"] == f"Bearer {LOCALSTRIPE_API_KEY}"
        assert request.url.startswith("http://127.0.0.1:1/v1/")
    assert recording_client.requests[0].idempotency_key is None  # GETs carry none


def test_customer_create_and_update(
    recording_gateway: StripeGateway, recording_client: RecordingHTTPClient
) -> None:
    customer = recording_gateway.customer_create(
        idempotency_key=idempotency_key("customer", 42, "create"),
        email="billing@acme.test",
        name="Acme",
        metadata={"tally_customer": "acme"},
    )
    assert customer.email == "billing@acme.test"
    create = only(recording_client, "POST", "/v1/customers")
    assert create.idempotency_key == "customer:42:create"
    assert create.form == {
        "email": "billing@acme.test",
        "name": "Acme",
        "metadata[tally_customer]": "acme",
    }
    recording_gateway.customer_update(
        customer.id, idempotency_key="customer:42:update:7", email="ap@acme.test"
    )
    update = only(recording_client, "POST", f"/v1/customers/{customer.id}")
    assert (update.idempotency_key, update.form) == (
        "customer:42:update:7",
        {"email": "ap@acme.test"},
    )


def test_default_payment_method_set_and_payment_method_list(
    recording_gateway: StripeGateway, recording_client: RecordingHTTPClient
) -> None:
    recording_gateway.customer_default_payment_method_set(
        "cus_1", "pm_9", idempotency_key="customer:1:pm:pm_9"
    )
    request = only(recording_client, "POST", "/v1/customers/cus_1")
    assert request.form == {"invoice_settings[default_payment_method]": "pm_9"}
    methods = recording_gateway.payment_methods_list("cus_1")
    assert [m.id for m in methods] == [fixture_object("payment_method")["id"]]
    listing = only(recording_client, "GET", "/v1/payment_methods")
    assert listing.form == {"customer": "cus_1", "type": "card", "limit": "100"}


def test_billing_portal_session_opens_on_payment_method_update(
    recording_gateway: StripeGateway, recording_client: RecordingHTTPClient
) -> None:
    session = recording_gateway.billing_portal_session_create(
        "cus_1", return_url="https://tally.test/usage/", idempotency_key="portal:5"
    )
    request = only(recording_client, "POST", "/v1/billing_portal/sessions")
    assert request.idempotency_key == "portal:5"
    assert request.form == {
        "customer": "cus_1",
        "return_url": "https://tally.test/usage/",
        "flow_data[type]": "payment_method_update",
    }
    assert session.url.startswith("https://")
    assert session.customer == "cus_1"


def test_checkout_setup_session(
    recording_gateway: StripeGateway, recording_client: RecordingHTTPClient
) -> None:
    recording_gateway.checkout_setup_session_create(
        "cus_1",
        currency="EUR",
        success_url="https://tally.test/ok",
        cancel_url="https://tally.test/cancel",
        idempotency_key="setup:3",
    )
    request = only(recording_client, "POST", "/v1/checkout/sessions")
    assert request.form == {
        "mode": "setup",
        "customer": "cus_1",
        "currency": "eur",
        "success_url": "https://tally.test/ok",
        "cancel_url": "https://tally.test/cancel",
    }
    assert request.idempotency_key == "setup:3"


def test_dispute_evidence_saved_without_submitting(
    recording_gateway: StripeGateway, recording_client: RecordingHTTPClient
) -> None:
    dispute = recording_gateway.dispute_update(
        "dp_1",
        evidence={
            "customer_name": "Acme",
            "uncategorized_text": "Usage: 1,204 calls",
            "service_date": "2026-10-01",
        },
        submit=False,
        idempotency_key="dispute:3:evidence:2",
    )
    request = only(recording_client, "POST", "/v1/disputes/dp_1")
    assert request.idempotency_key == "dispute:3:evidence:2"
    assert request.form == {
        "evidence[customer_name]": "Acme",
        "evidence[uncategorized_text]": "Usage: 1,204 calls",
        "evidence[service_date]": "2026-10-01",
        "submit": "false",
    }
    assert dispute.status == "needs_response"
    submitted = recording_gateway.dispute_update(
        "dp_1", evidence={}, submit=True, idempotency_key="dispute:3:submit"
    )
    assert recording_client.requests[-1].form == {"submit": "true"}
    assert submitted.status == "under_review"


def test_unknown_evidence_field_is_refused_before_sending(
    recording_gateway: StripeGateway, recording_client: RecordingHTTPClient
) -> None:
    with pytest.raises(ValueError, match="unknown dispute evidence fields"):
        recording_gateway.dispute_update(
            "dp_1",
            evidence={"customer_nmae": "typo"},
            submit=False,
            idempotency_key="dispute:3:evidence:3",
        )
    assert recording_client.requests == []


def test_file_upload_for_evidence_goes_to_the_configured_base_as_multipart(
    recording_gateway: StripeGateway, recording_client: RecordingHTTPClient
) -> None:
    pdf = b"%PDF-1.7\n\xff\xfe binary invoice"
    uploaded = recording_gateway.file_create(
        pdf, filename="INV-0007.pdf", idempotency_key="dispute:3:file:invoice_pdf"
    )
    request = only(recording_client, "POST", "/v1/files")
    assert request.url == "http://127.0.0.1:1/v1/files"  # not files.stripe.com
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert request.idempotency_key == "dispute:3:file:invoice_pdf"
    assert pdf in request.raw_body
    assert b'filename="INV-0007.pdf"' in request.raw_body
    assert b'name="purpose"\r\n\r\ndispute_evidence' in request.raw_body
    assert uploaded.purpose == "dispute_evidence"
    again = recording_gateway.file_create(
        pdf, filename="INV-0007.pdf", idempotency_key="dispute:3:file:invoice_pdf"
    )
    assert again.id == uploaded.id
    assert len(recording_client.executed) == 1


def test_invoice_create_never_sweeps_pending_items_and_never_advances_itself(
    recording_gateway: StripeGateway, recording_client: RecordingHTTPClient
) -> None:
    recording_gateway.invoice_create(
        "cus_1",
        currency="USD",
        collection_method="send_invoice",
        days_until_due=30,
        description="October 2026",
        metadata={"tally_invoice": "INV-0007"},
        idempotency_key="invoice:7:create",
    )
    request = only(recording_client, "POST", "/v1/invoices")
    assert request.form == {
        "customer": "cus_1",
        "currency": "usd",
        "collection_method": "send_invoice",
        "days_until_due": "30",
        "auto_advance": "false",
        "pending_invoice_items_behavior": "exclude",
        "description": "October 2026",
        "metadata[tally_invoice]": "INV-0007",
    }
    with pytest.raises(ValueError, match="days_until_due"):
        recording_gateway.invoice_create(
            "cus_1",
            currency="usd",
            collection_method="send_invoice",
            idempotency_key="invoice:8:create",
        )
    assert len(recording_client.requests) == 1


def test_invoice_item_sends_sub_cent_unit_price_in_plain_notation(
    recording_gateway: StripeGateway, recording_client: RecordingHTTPClient
) -> None:
    recording_gateway.invoice_item_create(
        "cus_1",
        "in_1",
        currency="usd",
        description="API calls",
        quantity=1_000_000,
        unit_amount_decimal=Decimal("0.0000001"),
        idempotency_key="invoice_line:55",
        period=(START, END),
    )
    request = only(recording_client, "POST", "/v1/invoiceitems")
    assert request.form == {
        "customer": "cus_1",
        "invoice": "in_1",
        "currency": "usd",
        "description": "API calls",
        "quantity": "1000000",
        "unit_amount_decimal": "0.0000001",
        "period[start]": str(int(START.timestamp())),
        "period[end]": str(int(END.timestamp())),
    }
    recording_gateway.invoice_item_create(
        "cus_1",
        "in_1",
        currency="usd",
        description="Fee",
        amount=1250,
        idempotency_key="invoice_line:56",
    )
    assert recording_client.requests[-1].form["amount"] == "1250"


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # neither amount nor unit price
        {"amount": 5, "unit_amount_decimal": Decimal("1")},
        {"amount": 12.5},
        {"amount": True},
        {"unit_amount_decimal": 0.1, "quantity": 1},
    ],
)
def test_invoice_item_refuses_ambiguous_or_float_amounts(
    recording_gateway: StripeGateway, recording_client: RecordingHTTPClient, kwargs: dict[str, Any]
) -> None:
    with pytest.raises((ValueError, TypeError)):
        recording_gateway.invoice_item_create(
            "cus_1",
            "in_1",
            currency="usd",
            description="x",
            idempotency_key="invoice_line:1",
            **kwargs,
        )
    assert recording_client.requests == []


@pytest.mark.parametrize(
    ("call", "path", "status"),
    [
        ("invoice_finalize", "/v1/invoices/in_1/finalize", "open"),
        ("invoice_pay", "/v1/invoices/in_1/pay", "paid"),
        ("invoice_send", "/v1/invoices/in_1/send", "open"),
        ("invoice_void", "/v1/invoices/in_1/void", "void"),
    ],
)
def test_invoice_actions(
    recording_gateway: StripeGateway,
    recording_client: RecordingHTTPClient,
    call: str,
    path: str,
    status: str,
) -> None:
    action = call.removeprefix("invoice_")
    invoice = getattr(recording_gateway, call)("in_1", idempotency_key=f"invoice:1:{action}")
    request = only(recording_client, "POST", path)
    assert request.idempotency_key == f"invoice:1:{action}"
    assert request.form == ({"auto_advance": "false"} if action == "finalize" else {})
    assert (invoice.id, invoice.status) == ("in_1", status)


def test_refund_create(
    recording_gateway: StripeGateway, recording_client: RecordingHTTPClient
) -> None:
    refund = recording_gateway.refund_create(
        payment_intent_id="pi_1",
        amount=250,
        reason="requested_by_customer",
        metadata={"tally_refund": "9"},
        idempotency_key=idempotency_key("refund", 9),
    )
    request = only(recording_client, "POST", "/v1/refunds")
    assert request.idempotency_key == "refund:9"
    assert request.form == {
        "payment_intent": "pi_1",
        "amount": "250",
        "reason": "requested_by_customer",
        "metadata[tally_refund]": "9",
    }
    assert refund.payment_intent == "pi_1"
    with pytest.raises(ValueError):
        recording_gateway.refund_create(
            payment_intent_id="pi_1", charge_id="ch_1", idempotency_key="refund:10"
        )


@pytest.mark.parametrize(
    "call",
    [
        "payment_intent_retrieve",
        "charge_retrieve",
        "refund_retrieve",
        "dispute_retrieve",
        "invoice_retrieve",
    ],
)
def test_retrieves_are_plain_gets(
    recording_gateway: StripeGateway, recording_client: RecordingHTTPClient, call: str
) -> None:
    obj = getattr(recording_gateway, call)("x_123")
    [request] = recording_client.requests
    assert request.method == "GET"
    assert request.path.endswith("/x_123")
    assert request.idempotency_key is None
    assert obj.id == "x_123"


@pytest.mark.parametrize(
    ("call", "path", "fixture"),
    [
        ("invoices_list", "/v1/invoices", "invoice"),
        ("charges_list", "/v1/charges", "charge"),
        ("refunds_list", "/v1/refunds", "refund"),
        ("disputes_list", "/v1/disputes", "dispute"),
    ],
)
def test_reconciliation_lists_filter_by_half_open_created_range_and_follow_pages(
    recording_gateway: StripeGateway,
    recording_client: RecordingHTTPClient,
    call: str,
    path: str,
    fixture: str,
) -> None:
    pages = {None: (["a1", "a2"], True), "a2": (["a3"], False)}

    def respond(request: RecordedRequest, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        ids, more = pages[request.form.get("starting_after")]
        return 200, {
            "object": "list",
            "url": path,
            "has_more": more,
            "data": [fixture_object(fixture, id=i) for i in ids],
        }

    recording_client.on("GET", path, respond)
    items = list(getattr(recording_gateway, call)(START, END))
    assert [item.id for item in items] == ["a1", "a2", "a3"]
    first, second = recording_client.requests_to("GET", path)
    expected = {
        "created[gte]": str(int(START.timestamp())),
        "created[lt]": str(int(END.timestamp())),
        "limit": "100",
    }
    assert first.form == expected
    assert second.form == {**expected, "starting_after": "a2"}


def test_naive_datetimes_are_refused(recording_gateway: StripeGateway) -> None:
    with pytest.raises(ValueError, match="aware"):
        list(recording_gateway.invoices_list(datetime(2026, 10, 1), END))


WRITES: list[tuple[str, Callable[[StripeGateway, Any], object]]] = [
    ("customer_create", lambda g, k: g.customer_create(idempotency_key=k, email="a@b.test")),
    ("customer_update", lambda g, k: g.customer_update("cus_1", idempotency_key=k, name="n")),
    (
        "default_pm",
        lambda g, k: g.customer_default_payment_method_set("cus_1", "pm_1", idempotency_key=k),
    ),
    ("attach", lambda g, k: g.payment_method_attach("pm_1", "cus_1", idempotency_key=k)),
    (
        "portal",
        lambda g, k: g.billing_portal_session_create(
            "cus_1", return_url="https://x.test", idempotency_key=k
        ),
    ),
    (
        "checkout",
        lambda g, k: g.checkout_setup_session_create(
            "cus_1",
            currency="usd",
            success_url="https://x.test",
            cancel_url="https://x.test",
            idempotency_key=k,
        ),
    ),
    (
        "invoice",
        lambda g, k: g.invoice_create(
            "cus_1", currency="usd", collection_method="charge_automatically", idempotency_key=k
        ),
    ),
    (
        "item",
        lambda g, k: g.invoice_item_create(
            "cus_1", "in_1", currency="usd", description="x", amount=1, idempotency_key=k
        ),
    ),
    ("finalize", lambda g, k: g.invoice_finalize("in_1", idempotency_key=k)),
    ("pay", lambda g, k: g.invoice_pay("in_1", idempotency_key=k)),
    ("send", lambda g, k: g.invoice_send("in_1", idempotency_key=k)),
    ("void", lambda g, k: g.invoice_void("in_1", idempotency_key=k)),
    (
        "payment_intent",
        lambda g, k: g.payment_intent_create(
            "cus_1", amount=100, currency="usd", payment_method_id="pm_1", idempotency_key=k
        ),
    ),
    ("refund", lambda g, k: g.refund_create(charge_id="ch_1", idempotency_key=k)),
    (
        "dispute",
        lambda g, k: g.dispute_update("dp_1", evidence={}, submit=False, idempotency_key=k),
    ),
    ("file", lambda g, k: g.file_create(b"pdf", filename="a.pdf", idempotency_key=k)),
]


@pytest.mark.parametrize(("name", "call"), WRITES, ids=[name for name, _ in WRITES])
@pytest.mark.parametrize("key", [None, "", "  ", "has space", "x" * 256])
def test_every_write_requires_a_usable_idempotency_key(
    recording_gateway: StripeGateway,
    recording_client: RecordingHTTPClient,
    name: str,
    call: Callable[[StripeGateway, Any], object],
    key: str | None,
) -> None:
    with pytest.raises(ValueError, match="idempotency key"):
        call(recording_gateway, key)
    assert recording_client.requests == []  # the SDK would have invented a random key


@pytest.mark.parametrize(("name", "call"), WRITES, ids=[name for name, _ in WRITES])
def test_every_write_sends_our_key(
    recording_gateway: StripeGateway,
    recording_client: RecordingHTTPClient,
    name: str,
    call: Callable[[StripeGateway, Any], object],
) -> None:
    call(recording_gateway, f"test:{name}")
    [request] = recording_client.requests
    assert request.method == "POST"
    assert request.idempotency_key == f"test:{name}"


def test_idempotency_key_helper() -> None:
    assert idempotency_key("customer", 42, "create") == "customer:42:create"
    assert idempotency_key("invoice", 7, "finalize") == "invoice:7:finalize"
    assert idempotency_key("refund", 9) == "refund:9"
    for bad in [(), ("customer", ""), ("a:b", 1), ("x y",)]:
        with pytest.raises(ValueError):
            idempotency_key(*bad)
