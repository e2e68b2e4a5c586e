"""Built-in datasets of payments (as Stripe reports them), refunds and disputes."""

from __future__ import annotations

from functools import partial

from billingsite.exports import Dataset, Row, money_text, utc
from disputes.models import Dispute, Refund
from invoicing.models import Payment
from reporting.datasets import columns as c
from reporting.datasets.billing import TIME_KEY, _page


def _payment_row(obj: Payment) -> Row:
    return {
        "id": obj.pk,
        "customer_id": obj.customer_id,
        "customer": obj.customer.external_id,
        "invoice": obj.invoice.number if obj.invoice else None,
        "stripe_payment_intent_id": obj.stripe_payment_intent_id,
        "stripe_charge_id": obj.stripe_charge_id,
        "status": obj.status,
        "currency": obj.currency,
        "amount": money_text(obj.amount, obj.currency),
        "amount_captured": money_text(obj.amount_captured, obj.currency),
        "amount_refunded": money_text(obj.amount_refunded, obj.currency),
        "failure_code": obj.failure_code or None,
        "created_at": utc(obj.created_at),
        "updated_at": utc(obj.updated_at),
    }


PAYMENTS = Dataset(
    name="payments",
    version=1,
    description="Every payment attempt (a Stripe payment intent or charge), as it is now.",
    columns=(
        c.ident(),
        c.customer_id(),
        c.customer(),
        c.text("invoice", "The number of the invoice paid, if linked."),
        c.text("stripe_payment_intent_id", "Stripe payment intent id."),
        c.text("stripe_charge_id", "Stripe charge id."),
        c.text("status", "processing, requires_action, failed, canceled or succeeded."),
        c.currency(),
        c.money("amount", "Amount asked."),
        c.money("amount_captured", "Amount captured."),
        c.money("amount_refunded", "Amount refunded so far."),
        c.text("failure_code", "Stripe's failure code, for failed payments."),
        c.created(),
        c.updated(),
    ),
    cursor="updated_at, id",
    key_types=TIME_KEY,
    page=partial(
        _page, Payment.objects.select_related("customer", "invoice"), "updated_at", _payment_row
    ),
    owner="reporting",
)


def _refund_row(obj: Refund) -> Row:
    return {
        "id": obj.pk,
        "customer_id": obj.customer_id,
        "customer": obj.customer.external_id,
        "invoice": obj.invoice.number if obj.invoice else None,
        "payment_id": obj.payment_id,
        "stripe_refund_id": obj.stripe_refund_id,
        "status": obj.status,
        "reason": obj.reason,
        "source": obj.source,
        "currency": obj.currency,
        "amount": money_text(obj.amount, obj.currency),
        "created_at": utc(obj.created_at),
        "updated_at": utc(obj.updated_at),
        "settled_at": utc(obj.settled_at),
    }


REFUNDS = Dataset(
    name="refunds",
    version=1,
    description="Every refund, from request to Stripe's final answer, as it is now.",
    columns=(
        c.ident(),
        c.customer_id(),
        c.customer(),
        c.text("invoice", "The number of the invoice refunded, if any."),
        c.integer("payment_id", "Tally's id of the payment refunded."),
        c.text("stripe_refund_id", "Stripe refund id, once Stripe has it."),
        c.text("status", "The refund's status."),
        c.text("reason", "Why the refund was requested."),
        c.text("source", "agent, duplicate_payment, invoice_void or sla_batch."),
        c.currency(),
        c.money("amount", "Amount refunded (positive)."),
        c.created(),
        c.updated(),
        c.when("settled_at", "When Stripe settled it"),
    ),
    cursor="updated_at, id",
    key_types=TIME_KEY,
    page=partial(
        _page, Refund.objects.select_related("customer", "invoice"), "updated_at", _refund_row
    ),
    owner="reporting",
)


def _dispute_row(obj: Dispute) -> Row:
    return {
        "id": obj.pk,
        "stripe_id": obj.stripe_id,
        "customer_id": obj.customer_id,
        "customer": obj.customer.external_id if obj.customer else None,
        "invoice": obj.invoice.number if obj.invoice else None,
        "payment_id": obj.payment_id,
        "status": obj.status,
        "reason": obj.reason,
        "currency": obj.currency,
        "amount": money_text(obj.amount, obj.currency),
        "funds_withdrawn": obj.funds_withdrawn,
        "evidence_due_by": utc(obj.due_by),
        "closed_at": utc(obj.closed_at),
        "created_at": utc(obj.created_at),
        "updated_at": utc(obj.updated_at),
    }


DISPUTES = Dataset(
    name="disputes",
    version=1,
    description="Every dispute (chargeback or inquiry) mirrored from Stripe, as it is now.",
    columns=(
        c.ident(),
        c.text("stripe_id", "Stripe dispute id.", nullable=False),
        c.customer_id(),
        c.customer(),
        c.text("invoice", "The number of the invoice disputed, if known."),
        c.integer("payment_id", "Tally's id of the payment disputed, if known."),
        c.text("status", "Stripe's dispute status."),
        c.text("reason", "Stripe's dispute reason."),
        c.currency(),
        c.money("amount", "Amount disputed."),
        c.flag("funds_withdrawn", "Whether Stripe withdrew the funds."),
        c.when("evidence_due_by", "When evidence is due"),
        c.when("closed_at", "When the dispute closed"),
        c.created(),
        c.updated(),
    ),
    cursor="updated_at, id",
    key_types=TIME_KEY,
    page=partial(
        _page, Dispute.objects.select_related("customer", "invoice"), "updated_at", _dispute_row
    ),
    owner="reporting",
)

DATASETS = (PAYMENTS, REFUNDS, DISPUTES)
