"""The gateway against a real (fake) Stripe server: localstripe on 127.0.0.1.

Covers what localstripe implements: customers, payment methods, payment intents, charges,
refunds, invoice pay/void/retrieve, and its signed webhook deliveries. See
docs/stripe-testing.md for what it lacks (those calls are tested with the recording client).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psutil
import pytest
import requests

from invoicing.stripe import errors
from invoicing.stripe.errors import StripeGatewayError
from invoicing.stripe.gateway import StripeGateway
from invoicing.stripe.signatures import verify_signature
from tests.stripe_support import LOCALSTRIPE_API_KEY, LocalStripe, assert_loopback

pytestmark = pytest.mark.slow


def unique(prefix: str) -> str:
    """Idempotency keys must not collide across tests sharing one localstripe."""
    return f"{prefix}:{uuid.uuid4().hex[:12]}"


def count_customers(localstripe: LocalStripe, email: str) -> int:
    response = requests.get(
        localstripe.base_url + "/v1/customers",
        params={"limit": 100},
        auth=(LOCALSTRIPE_API_KEY, ""),
        timeout=5,
    )
    return sum(1 for c in response.json()["data"] if c["email"] == email)


@pytest.fixture
def customer(localstripe_gateway: StripeGateway) -> Any:
    return localstripe_gateway.customer_create(
        idempotency_key=unique("customer"), email=f"{uuid.uuid4().hex[:8]}@acme.test", name="Acme"
    )


@pytest.fixture
def card(localstripe: LocalStripe, localstripe_gateway: StripeGateway, customer: Any) -> str:
    pm = localstripe.card_payment_method("4242424242424242")
    localstripe_gateway.payment_method_attach(pm, customer.id, idempotency_key=unique("pm"))
    return pm


def test_localstripe_runs_on_loopback_with_private_state(localstripe: LocalStripe) -> None:
    assert_loopback(localstripe.base_url)
    assert localstripe.process.poll() is None
    assert "/pytest-" in str(localstripe.state_dir)
    listening = [
        c.laddr
        for c in psutil.Process(localstripe.process.pid).net_connections()
        if c.status == psutil.CONN_LISTEN
    ]
    assert [(addr.ip, addr.port) for addr in listening] == [
        ("127.0.0.1", int(localstripe.base_url.rsplit(":", 1)[1]))
    ]


def test_customer_create_is_idempotent(
    localstripe: LocalStripe, localstripe_gateway: StripeGateway
) -> None:
    key, email = unique("customer"), f"{uuid.uuid4().hex[:8]}@acme.test"
    first = localstripe_gateway.customer_create(
        idempotency_key=key, email=email, name="Acme", metadata={"tally_customer": "acme"}
    )
    second = localstripe_gateway.customer_create(
        idempotency_key=key, email=email, name="Acme", metadata={"tally_customer": "acme"}
    )
    assert first.id == second.id
    assert first.id.startswith("cus_")
    assert count_customers(localstripe, email) == 1
    assert (localstripe.state_dir / "localstripe.pickle").exists()
    with pytest.raises(StripeGatewayError) as caught:
        localstripe_gateway.customer_create(idempotency_key=key, email="other@acme.test")
    assert (caught.value.code, caught.value.retryable) == (errors.IDEMPOTENCY_ERROR, False)
    assert count_customers(localstripe, "other@acme.test") == 0


def test_concurrent_creates_with_one_key_make_one_customer(
    localstripe: LocalStripe, localstripe_gateway: StripeGateway
) -> None:
    key, email = unique("customer"), f"{uuid.uuid4().hex[:8]}@acme.test"

    def create(_: int) -> str:
        try:
            return str(localstripe_gateway.customer_create(idempotency_key=key, email=email).id)
        except StripeGatewayError as exc:  # 409 while the first is in flight: retryable
            assert (exc.code, exc.retryable) == (errors.CONFLICT, True)
            return "conflict"

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(create, range(8)))
    assert len({o for o in outcomes if o != "conflict"}) == 1
    assert count_customers(localstripe, email) == 1


def test_customer_update_and_retrieve(localstripe_gateway: StripeGateway, customer: Any) -> None:
    localstripe_gateway.customer_update(
        customer.id,
        idempotency_key=unique("customer_update"),
        email="ap@acme.test",
        name="Acme Ltd",
        metadata={"tally_customer": "acme"},
    )
    fetched = localstripe_gateway.customer_retrieve(customer.id)
    assert (fetched.email, fetched.name) == ("ap@acme.test", "Acme Ltd")
    assert fetched.metadata["tally_customer"] == "acme"


def test_unknown_customer_is_not_found(localstripe_gateway: StripeGateway) -> None:
    with pytest.raises(StripeGatewayError) as caught:
        localstripe_gateway.customer_retrieve("cus_doesnotexist")
    assert (caught.value.code, caught.value.retryable, caught.value.http_status) == (
        errors.NOT_FOUND,
        False,
        404,
    )


def test_payment_methods_and_default(
    localstripe: LocalStripe, localstripe_gateway: StripeGateway, customer: Any, card: str
) -> None:
    assert localstripe_gateway.customer_default_payment_method(customer.id) is None
    second = localstripe.card_payment_method("5555555555554444")
    localstripe_gateway.payment_method_attach(second, customer.id, idempotency_key=unique("pm"))
    methods = localstripe_gateway.payment_methods_list(customer.id)
    assert {m.id for m in methods} == {card, second}
    assert {m.card.last4 for m in methods} == {"4242", "4444"}
    localstripe_gateway.customer_default_payment_method_set(
        customer.id, second, idempotency_key=unique("customer_default_pm")
    )
    assert localstripe_gateway.customer_default_payment_method(customer.id) == second


def test_declined_card_cannot_be_attached(
    localstripe: LocalStripe, localstripe_gateway: StripeGateway, customer: Any
) -> None:
    declined = localstripe.card_payment_method("4000000000000002")
    with pytest.raises(StripeGatewayError) as caught:
        localstripe_gateway.payment_method_attach(
            declined, customer.id, idempotency_key=unique("pm")
        )
    assert (caught.value.code, caught.value.retryable, caught.value.stripe_code) == (
        errors.CARD_ERROR,
        False,
        "card_declined",
    )


def charge(gateway: StripeGateway, customer: Any, pm: str, amount: int = 5000) -> Any:
    return gateway.payment_intent_create(
        customer.id,
        amount=amount,
        currency="EUR",
        payment_method_id=pm,
        idempotency_key=unique("payment"),
    )


def charge_id(payment_intent: Any) -> str:
    latest = payment_intent.latest_charge  # localstripe expands it; real Stripe sends the id
    return latest if isinstance(latest, str) else latest.id


def test_payment_then_partial_and_full_refund(
    localstripe_gateway: StripeGateway, customer: Any, card: str
) -> None:
    intent = charge(localstripe_gateway, customer, card, amount=5000)
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 5000, "eur")
    fetched = localstripe_gateway.payment_intent_retrieve(intent.id)
    ch = localstripe_gateway.charge_retrieve(charge_id(fetched))
    assert (ch.amount, ch.paid, ch.payment_intent) == (5000, True, intent.id)

    key = unique("refund")
    partial = localstripe_gateway.refund_create(
        payment_intent_id=intent.id, amount=1200, idempotency_key=key
    )
    again = localstripe_gateway.refund_create(
        payment_intent_id=intent.id, amount=1200, idempotency_key=key
    )
    assert again.id == partial.id  # the resend did not refund twice
    assert (partial.amount, partial.status, partial.charge) == (1200, "succeeded", ch.id)
    assert localstripe_gateway.refund_retrieve(partial.id).amount == 1200

    full = localstripe_gateway.refund_create(charge_id=ch.id, idempotency_key=unique("refund"))
    # localstripe refunds the whole charge again (real Stripe: the remaining 3800).
    assert full.amount == 5000
    assert full.id != partial.id


def test_charge_declined_is_final_with_stripe_reason(
    localstripe: LocalStripe, localstripe_gateway: StripeGateway, customer: Any
) -> None:
    pm = localstripe.card_payment_method("4000000000000341")  # attaches, declines on charge
    localstripe_gateway.payment_method_attach(pm, customer.id, idempotency_key=unique("pm"))
    with pytest.raises(StripeGatewayError) as caught:
        charge(localstripe_gateway, customer, pm)
    error = caught.value
    assert (error.code, error.retryable, error.http_status, error.stripe_code) == (
        errors.CARD_ERROR,
        False,
        402,
        "card_declined",
    )
    assert error.message == "Your card was declined."


def draft_invoice(
    gateway: StripeGateway,
    customer: Any,
    *,
    lines: list[dict[str, Any]],
    collection_method: str = "charge_automatically",
    days_until_due: int | None = None,
) -> Any:
    invoice = gateway.invoice_create(
        customer.id,
        currency="EUR",
        collection_method=collection_method,  # type: ignore[arg-type]
        days_until_due=days_until_due,
        description="Usage",
        idempotency_key=unique("invoice_create"),
    )
    for line in lines:
        gateway.invoice_item_create(
            customer.id, invoice.id, currency="eur", idempotency_key=unique("invoice_line"), **line
        )
    return invoice


def test_invoice_create_items_finalize_and_pay(
    localstripe_gateway: StripeGateway, customer: Any, card: str
) -> None:
    localstripe_gateway.customer_default_payment_method_set(
        customer.id, card, idempotency_key=unique("customer_default_pm")
    )
    invoice = draft_invoice(
        localstripe_gateway,
        customer,
        lines=[
            {"description": "Platform fee", "amount": 2500},
            {
                "description": "API calls",
                "unit_amount_decimal": Decimal("0.0125"),
                "quantity": 123_456,
            },  # 1543.2 minor units -> 1543
        ],
    )
    assert (invoice.status, invoice.currency, invoice.collection_method) == (
        "draft",
        "eur",
        "charge_automatically",
    )
    fetched = localstripe_gateway.invoice_retrieve(invoice.id)
    assert [line.amount for line in fetched.lines.data] == [2500, 1543]
    assert fetched.total == 4043

    key = f"invoice:{invoice.id}:finalize"
    finalized = localstripe_gateway.invoice_finalize(invoice.id, idempotency_key=key)
    assert finalized.status == "open"
    assert localstripe_gateway.invoice_finalize(invoice.id, idempotency_key=key).status == "open"

    paid = localstripe_gateway.invoice_pay(invoice.id, idempotency_key=f"invoice:{invoice.id}:pay")
    assert (paid.status, paid.amount_paid) == ("paid", 4043)
    replay = localstripe_gateway.invoice_pay(
        invoice.id, idempotency_key=f"invoice:{invoice.id}:pay"
    )
    assert replay.status == "paid"  # a resend replays instead of "Invoice is already paid"
    intent = localstripe_gateway.payment_intent_retrieve(paid.payment_intent)
    assert (intent.status, intent.amount) == ("succeeded", 4043)


def test_invoice_send_and_void(localstripe_gateway: StripeGateway, customer: Any) -> None:
    sent = draft_invoice(
        localstripe_gateway,
        customer,
        lines=[{"description": "Fee", "amount": 900}],
        collection_method="send_invoice",
        days_until_due=30,
    )
    result = localstripe_gateway.invoice_send(sent.id, idempotency_key=f"invoice:{sent.id}:send")
    assert (result.status, result.days_until_due, result.amount_due) == ("open", 30, 900)
    voided = localstripe_gateway.invoice_void(sent.id, idempotency_key=f"invoice:{sent.id}:void")
    assert voided.status == "void"

    automatic = draft_invoice(
        localstripe_gateway, customer, lines=[{"description": "Fee", "amount": 100}]
    )
    with pytest.raises(StripeGatewayError) as caught:
        localstripe_gateway.invoice_send(automatic.id, idempotency_key=unique("invoice_send"))
    assert (caught.value.code, caught.value.retryable) == (errors.INVALID_REQUEST, False)


def test_invoice_pay_with_declining_card_reports_the_decline(
    localstripe: LocalStripe, localstripe_gateway: StripeGateway, customer: Any
) -> None:
    pm = localstripe.card_payment_method("4000000000000341")
    localstripe_gateway.payment_method_attach(pm, customer.id, idempotency_key=unique("pm"))
    localstripe_gateway.customer_default_payment_method_set(
        customer.id, pm, idempotency_key=unique("customer_default_pm")
    )
    invoice = draft_invoice(
        localstripe_gateway, customer, lines=[{"description": "Fee", "amount": 700}]
    )
    localstripe_gateway.invoice_finalize(invoice.id, idempotency_key=unique("invoice_finalize"))
    with pytest.raises(StripeGatewayError) as caught:
        localstripe_gateway.invoice_pay(invoice.id, idempotency_key=unique("invoice_pay"))
    assert (caught.value.code, caught.value.stripe_code) == (errors.CARD_ERROR, "card_declined")
    assert localstripe_gateway.invoice_retrieve(invoice.id).status == "open"


class _Sink(BaseHTTPRequestHandler):
    received: list[tuple[bytes, str | None]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((body, self.headers.get("Stripe-Signature")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook_sink() -> Iterator[tuple[str, list[tuple[bytes, str | None]]]]:
    received: list[tuple[bytes, str | None]] = []
    handler = type("Sink", (_Sink,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/stripe/", received
    finally:
        server.shutdown()
        server.server_close()


def deliveries_for(
    received: list[tuple[bytes, str | None]], object_id: str, types: set[str], timeout: float = 10.0
) -> dict[str, tuple[bytes, str | None]]:
    """Wait until an event of each of ``types`` about ``object_id`` arrived; {type: delivery}."""
    deadline = time.monotonic() + timeout
    found: dict[str, tuple[bytes, str | None]] = {}
    while time.monotonic() < deadline:
        for body, header in list(received):
            event = json.loads(body)
            if event["data"]["object"].get("id") == object_id and event["type"] in types:
                found[event["type"]] = (body, header)
        if types <= set(found):
            break
        time.sleep(0.1)
    return found


def test_localstripe_webhooks_verify_with_our_signatures(
    localstripe: LocalStripe,
    localstripe_gateway: StripeGateway,
    webhook_sink: tuple[str, list[tuple[bytes, str | None]]],
) -> None:
    url, received = webhook_sink
    secret = "whsec_" + uuid.uuid4().hex
    name = uuid.uuid4().hex[:8]
    localstripe.register_webhook(name, url, secret, events=["customer.created"])
    created = localstripe_gateway.customer_create(
        idempotency_key=unique("customer"), email="hook@acme.test"
    )
    found = deliveries_for(received, created.id, {"customer.created"})
    assert set(found) == {"customer.created"}, "localstripe did not deliver customer.created"
    body, header = found["customer.created"]
    assert verify_signature(body, header, ["whsec_old_secret", secret]).secret_index == 1
    # Webhooks stay registered for the session: point this one at nothing we listen on.
    localstripe.register_webhook(name, "http://127.0.0.1:9/", secret, events=["none"])


def test_invoice_flow_emits_the_events_tally_listens_to(
    localstripe: LocalStripe,
    localstripe_gateway: StripeGateway,
    customer: Any,
    webhook_sink: tuple[str, list[tuple[bytes, str | None]]],
) -> None:
    url, received = webhook_sink
    secret, name = "whsec_" + uuid.uuid4().hex, uuid.uuid4().hex[:8]
    wanted = {
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.payment_failed",
    }
    localstripe.register_webhook(name, url, secret, events=sorted(wanted))
    good = localstripe.card_payment_method("4242424242424242")
    localstripe_gateway.payment_method_attach(good, customer.id, idempotency_key=unique("pm"))
    localstripe_gateway.customer_default_payment_method_set(
        customer.id, good, idempotency_key=unique("customer_default_pm")
    )
    paid = draft_invoice(
        localstripe_gateway, customer, lines=[{"description": "Fee", "amount": 1500}]
    )
    localstripe_gateway.invoice_finalize(paid.id, idempotency_key=unique("invoice_finalize"))
    localstripe_gateway.invoice_pay(paid.id, idempotency_key=unique("invoice_pay"))

    bad = localstripe.card_payment_method("4000000000000341")
    localstripe_gateway.payment_method_attach(bad, customer.id, idempotency_key=unique("pm"))
    localstripe_gateway.customer_default_payment_method_set(
        customer.id, bad, idempotency_key=unique("customer_default_pm")
    )
    failed = draft_invoice(
        localstripe_gateway, customer, lines=[{"description": "Fee", "amount": 800}]
    )
    localstripe_gateway.invoice_finalize(failed.id, idempotency_key=unique("invoice_finalize"))
    with pytest.raises(StripeGatewayError):
        localstripe_gateway.invoice_pay(failed.id, idempotency_key=unique("invoice_pay"))

    paid_events = deliveries_for(
        received, paid.id, {"invoice.finalized", "invoice.paid", "invoice.payment_succeeded"}
    )
    failed_events = deliveries_for(received, failed.id, {"invoice.payment_failed"})
    localstripe.register_webhook(name, "http://127.0.0.1:9/", secret, events=["none"])
    assert set(paid_events) == {"invoice.finalized", "invoice.paid", "invoice.payment_succeeded"}
    assert set(failed_events) == {"invoice.payment_failed"}
    for body, header in [*paid_events.values(), *failed_events.values()]:
        assert verify_signature(body, header, [secret]).secret_index == 0
    paid_object = json.loads(paid_events["invoice.paid"][0])["data"]["object"]
    assert (paid_object["status"], paid_object["amount_paid"]) == ("paid", 1500)
