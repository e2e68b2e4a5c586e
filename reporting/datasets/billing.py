"""Built-in datasets of customers, contracts, invoices, their lines, credit notes and the credit
ledger. Draft invoices (and their lines) are left out: they change until they are finalized."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from accounts.models import Customer
from billingsite.exports import Dataset, Key, Row, decimal_text, money_text, utc
from invoicing.models import Contract, CreditEntry, CreditNote, Invoice, InvoiceLine
from invoicing.states import InvoiceStatus
from reporting.datasets import columns as c
from reporting.datasets.paging import keyset_page

TIME_KEY = ("timestamp", "int")


def _page(queryset: Any, time_field: str, to_row: Any, **window: Any) -> list[tuple[Key, Row]]:
    attr = time_field.split("__")

    def time_of(obj: Any) -> datetime:
        value = obj
        for part in attr:
            value = getattr(value, part)
        return value  # type: ignore[no-any-return]

    return keyset_page(queryset, time_field=time_field, to_row=to_row, time_of=time_of, **window)


def _customer_row(obj: Customer) -> Row:
    return {
        "id": obj.pk,
        "external_id": obj.external_id,
        "name": obj.name,
        "email": obj.email,
        "currency": obj.currency,
        "timezone": obj.timezone,
        "country": obj.country,
        "status": obj.status,
        "stripe_customer_id": obj.stripe_customer_id or None,
        "past_due_since": utc(obj.past_due_since),
        "created_at": utc(obj.created_at),
        "updated_at": utc(obj.updated_at),
    }


CUSTOMERS = Dataset(
    name="customers",
    version=1,
    description="Every customer, as it is now.",
    columns=(
        c.ident(),
        c.text("external_id", "The customer's id in your systems (unique).", nullable=False),
        c.text("name", "Display name."),
        c.text("email", "Billing email."),
        c.text("currency", "The customer's default currency (ISO 4217)."),
        c.text("timezone", "IANA time zone of the customer's usage pages and periods."),
        c.text("country", "ISO 3166-1 alpha-2 country, or empty."),
        c.text("status", "Account status."),
        c.text("stripe_customer_id", "The Stripe customer id, when synced."),
        c.when("past_due_since", "Since when the customer has an overdue invoice"),
        c.created(),
        c.updated(),
    ),
    cursor="updated_at, id",
    key_types=TIME_KEY,
    page=partial(_page, Customer.objects.all(), "updated_at", _customer_row),
    owner="reporting",
)


def _contract_row(obj: Contract) -> Row:
    version = obj.plan_version
    return {
        "id": obj.pk,
        "customer_id": obj.customer_id,
        "customer": obj.customer.external_id,
        "plan": version.plan.key,
        "plan_version": version.version,
        "cadence": version.cadence,
        "currency": version.plan.currency,
        "start_date": obj.start_date,
        "end_date": obj.end_date,
        "billing_anchor_day": obj.billing_anchor_day,
        "timezone": obj.timezone,
        "net_days": obj.net_days,
        "collection_method": obj.collection_method,
        "created_at": utc(obj.created_at),
        "updated_at": utc(obj.updated_at),
    }


CONTRACTS = Dataset(
    name="contracts",
    version=1,
    description="Every contract (a customer on a plan version) with its terms, as it is now.",
    columns=(
        c.ident(),
        c.customer_id(),
        c.customer(),
        c.text("plan", "The plan's key."),
        c.integer("plan_version", "The plan version's number at the start date."),
        c.text("cadence", "monthly, quarterly or annual: the length of a billing period."),
        c.currency(),
        c.day("start_date", "First day billed, in the contract's time zone."),
        c.day("end_date", "First day not billed any more; empty = open-ended."),
        c.integer("billing_anchor_day", "Day of month billing periods start on."),
        c.text("timezone", "IANA time zone of the contract's dates and periods."),
        c.integer("net_days", "Payment terms in days."),
        c.text("collection_method", "charge_automatically or send_invoice."),
        c.created(),
        c.updated(),
    ),
    cursor="updated_at, id",
    key_types=TIME_KEY,
    page=partial(
        _page,
        Contract.objects.select_related("customer", "plan_version__plan"),
        "updated_at",
        _contract_row,
    ),
    owner="reporting",
)


def _invoice_row(obj: Invoice) -> Row:
    return {
        "id": obj.pk,
        "number": obj.number,
        "customer_id": obj.customer_id,
        "customer": obj.customer.external_id,
        "contract_id": obj.contract_id,
        "kind": obj.kind,
        "status": obj.status,
        "currency": obj.currency,
        "total": money_text(obj.total, obj.currency),
        "period_start": utc(obj.period_start),
        "period_end": utc(obj.period_end),
        "issued_at": utc(obj.issued_at),
        "due_at": utc(obj.due_at),
        "paid_at": utc(obj.paid_at),
        "voided_at": utc(obj.voided_at),
        "replaces": obj.replaces.number if obj.replaces else None,
        "created_at": utc(obj.created_at),
        "updated_at": utc(obj.updated_at),
    }


INVOICES = Dataset(
    name="invoices",
    version=1,
    description="Every invoice that left draft (finalized, past due, paid, void, uncollectible).",
    columns=(
        c.ident(),
        c.text("number", "The invoice number (gapless per series).", nullable=False),
        c.customer_id(),
        c.customer(),
        c.integer("contract_id", "Tally's id of the contract billed."),
        c.text("kind", "period (a billing period) or reissue (replaces a voided invoice)."),
        c.text("status", "finalized, past_due, paid, void or uncollectible."),
        c.currency(),
        c.money("total", "The invoice total (sum of its rounded lines)."),
        c.when("period_start", "Start of the billed period, inclusive"),
        c.when("period_end", "End of the billed period, exclusive"),
        c.when("issued_at", "When the invoice was finalized"),
        c.when("due_at", "When payment is due"),
        c.when("paid_at", "When it was paid, if it was"),
        c.when("voided_at", "When it was voided, if it was"),
        c.text("replaces", "Number of the voided invoice this one re-issues."),
        c.created(),
        c.updated(),
    ),
    cursor="updated_at, id",
    key_types=TIME_KEY,
    page=partial(
        _page,
        Invoice.objects.exclude(status=InvoiceStatus.DRAFT).select_related("customer", "replaces"),
        "updated_at",
        _invoice_row,
    ),
    owner="reporting",
)


def _line_row(obj: InvoiceLine) -> Row:
    invoice = obj.invoice
    return {
        "id": obj.pk,
        "invoice_id": invoice.pk,
        "invoice": invoice.number,
        "customer_id": invoice.customer_id,
        "customer": invoice.customer.external_id,
        "position": obj.position,
        "kind": obj.kind,
        "description": obj.description,
        "charge_key": obj.charge_key or None,
        "meter_key": obj.meter_key or None,
        "period_start": utc(obj.period_start),
        "period_end": utc(obj.period_end),
        "quantity": decimal_text(obj.quantity),
        "currency": obj.currency,
        "amount": money_text(obj.amount, obj.currency),
        "issued_at": utc(invoice.issued_at),
    }


INVOICE_LINES = Dataset(
    name="invoice_lines",
    version=1,
    description="The lines of every invoice that left draft (lines never change after that).",
    columns=(
        c.ident(),
        c.ident("invoice_id", "Tally's id of the invoice."),
        c.text("invoice", "The invoice number."),
        c.customer_id(),
        c.customer(),
        c.integer("position", "Order of the line on the invoice."),
        c.text("kind", "fixed, usage, commit, true_up, adjustment, discount or credit."),
        c.text("description", "The line's text as printed."),
        c.text("charge_key", "The plan charge billed, if any."),
        c.text("meter_key", "The meter whose usage is billed, for usage lines."),
        c.when("period_start", "Start of the period the line bills, inclusive"),
        c.when("period_end", "End of the period the line bills, exclusive"),
        c.text("quantity", "Quantity billed as a decimal string, if any."),
        c.currency(),
        c.money("amount", "Signed, rounded amount of the line."),
        c.when("issued_at", "When the invoice was finalized; the incremental cursor"),
    ),
    cursor="invoice issued_at, id",
    key_types=TIME_KEY,
    page=partial(
        _page,
        InvoiceLine.objects.exclude(invoice__status=InvoiceStatus.DRAFT).select_related(
            "invoice__customer"
        ),
        "invoice__issued_at",
        _line_row,
    ),
    owner="reporting",
)


def _credit_note_row(obj: CreditNote) -> Row:
    return {
        "id": obj.pk,
        "number": obj.number,
        "invoice_id": obj.invoice_id,
        "invoice": obj.invoice.number,
        "customer_id": obj.invoice.customer_id,
        "customer": obj.invoice.customer.external_id,
        "outcome": obj.outcome,
        "reason": obj.reason,
        "currency": obj.currency,
        "total": money_text(obj.total, obj.currency),
        "created_at": utc(obj.created_at),
    }


CREDIT_NOTES = Dataset(
    name="credit_notes",
    version=1,
    description="Every credit note (append-only: a note never changes once issued).",
    columns=(
        c.ident(),
        c.text("number", "The credit note number (CN series).", nullable=False),
        c.ident("invoice_id", "Tally's id of the invoice credited."),
        c.text("invoice", "The number of the invoice credited."),
        c.customer_id(),
        c.customer(),
        c.text("outcome", "reduce_amount_due, refund or customer_credit."),
        c.text("reason", "Why the note was issued."),
        c.currency(),
        c.money("total", "Amount credited (positive)."),
        c.when("created_at", "When the note was issued; the incremental cursor"),
    ),
    cursor="created_at, id",
    key_types=TIME_KEY,
    page=partial(
        _page,
        CreditNote.objects.select_related("invoice__customer"),
        "created_at",
        _credit_note_row,
    ),
    owner="reporting",
)


def _credit_entry_row(obj: CreditEntry) -> Row:
    grant = obj.grant
    return {
        "id": obj.pk,
        "grant_id": grant.pk,
        "grant_kind": grant.kind,
        "customer_id": grant.customer_id,
        "customer": grant.customer.external_id,
        "kind": obj.kind,
        "currency": obj.currency,
        "amount": money_text(obj.amount, obj.currency),
        "invoice": obj.invoice.number if obj.invoice else None,
        "note": obj.note,
        "created_at": utc(obj.created_at),
    }


CREDIT_LEDGER = Dataset(
    name="credit_ledger",
    version=1,
    description="Every entry of the customers' credit grants (append-only); a grant's balance "
    "is the sum of its entries.",
    columns=(
        c.ident(),
        c.ident("grant_id", "Tally's id of the credit grant."),
        c.text("grant_kind", "promotional or paid."),
        c.customer_id(),
        c.customer(),
        c.text("kind", "grant, drawdown, expiry, reversal or adjustment."),
        c.currency(),
        c.money("amount", "Signed: positive adds credit, negative uses it."),
        c.text("invoice", "The invoice that drew the credit down (or returned it), if any."),
        c.text("note", "Free text."),
        c.when("created_at", "When the entry was posted; the incremental cursor"),
    ),
    cursor="created_at, id",
    key_types=TIME_KEY,
    page=partial(
        _page,
        CreditEntry.objects.select_related("grant__customer", "invoice"),
        "created_at",
        _credit_entry_row,
    ),
    owner="reporting",
)

DATASETS = (CUSTOMERS, CONTRACTS, INVOICES, INVOICE_LINES, CREDIT_NOTES, CREDIT_LEDGER)
