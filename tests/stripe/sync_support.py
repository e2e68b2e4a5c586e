"""Builders for the Stripe sync tests: finalized invoices with sub-cent unit prices, their
Stripe mirror rows, and signed webhook deliveries posted to the inbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.test import Client

from accounts.models import Customer
from invoicing.models import Invoice, StripeInvoice
from invoicing.services.billing import billing_run
from invoicing.usage import UsageReading
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract, make_version
from tests.stripe_support import sign_webhook, stripe_event

SECRET = "whsec_tally_test_secret"
SUB_CENT_CALLS = {
    "key": "api_calls",
    "name": "API calls",
    "kind": "usage",
    "meter_key": "api_calls",
    "price": {"model": "per_unit", "unit_amount": "0.0004"},
}
TIERED_STORAGE = {
    "key": "storage",
    "name": "Storage",
    "kind": "usage",
    "meter_key": "storage",
    "price": {
        "model": "graduated",
        "tiers": [
            {"up_to": "10", "unit_amount": "0.0333"},
            {"up_to": None, "unit_amount": "0.00125"},
        ],
    },
}
PLATFORM = {
    "key": "platform",
    "name": "Platform fee",
    "kind": "fixed",
    "price": {"model": "flat", "amount": "19.99"},
}


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def per_day(**rates: int):  # type: ignore[no-untyped-def]
    def source(
        *,
        customer: Customer,
        meter_key: str,
        start: datetime,
        end: datetime,
        group_by: Sequence[str] | None = None,
    ) -> UsageReading:
        days = Decimal((end - start).total_seconds()) / Decimal(86400)
        return UsageReading(total=days * rates.get(meter_key, 0))

    return source


def finalized_invoice(
    customer: Customer | None = None,
    *,
    calls_per_day: int = 1237,
    storage_per_day: int = 3,
    collection_method: str = "charge_automatically",
    plan_key: str = "subcent",
    now: datetime | None = None,
) -> Invoice:
    """January 2026 finalized: 19.99 flat, calls at 0.0004 each, tiered storage."""
    customer = customer or CustomerFactory()
    version = make_version([PLATFORM, SUB_CENT_CALLS, TIERED_STORAGE], key=plan_key)
    contract = make_contract(customer, version=version, collection_method=collection_method)
    billing_run(
        now=now or at(2026, 2, 3),
        contract_ids=[contract.pk],
        usage=per_day(api_calls=calls_per_day, storage=storage_per_day),
    )
    invoice = Invoice.objects.get(contract=contract)
    assert invoice.status == "finalized"
    return invoice


def link(invoice: Invoice, stripe_id: str, *, status: str = "open") -> StripeInvoice:
    return StripeInvoice.objects.create(
        invoice=invoice,
        stripe_id=stripe_id,
        status=status,
        collection_method="charge_automatically",
        currency=invoice.currency,
    )


def stripe_invoice_obj(
    invoice: Invoice, stripe_id: str, status: str, **extra: Any
) -> dict[str, Any]:
    from tests.stripe_support import fixture_object

    return fixture_object(
        "invoice",
        id=stripe_id,
        status=status,
        metadata={"tally_invoice_id": str(invoice.pk)},
        currency=invoice.currency.lower(),
        **extra,
    )


def post_event(
    client: Client,
    payload: bytes,
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
    header: str | None = None,
) -> Any:
    signature = header if header is not None else sign_webhook(payload, secret, timestamp)
    return client.post(
        "/webhooks/stripe/",
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
    )


__all__ = [
    "SECRET",
    "at",
    "finalized_invoice",
    "link",
    "per_day",
    "post_event",
    "stripe_event",
    "stripe_invoice_obj",
]
