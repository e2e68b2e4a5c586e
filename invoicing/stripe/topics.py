"""Outbox topics of the Stripe wing and the idempotency keys of their rows.

A leaf: it imports only ``keys``. Invoice services write the outbox rows that push an invoice
to Stripe or void it there by topic and key from here, and the wing registers the handlers for
the same topics from ``InvoicingConfig.ready()``; so invoice services never import the wing
(which imports them: ``mirror`` marks invoices paid through ``invoice_transition``). The topic
strings are stored in outbox rows: never change them.
"""

from __future__ import annotations

from invoicing.stripe.keys import idempotency_key

INVOICE_PUSH_TOPIC = "stripe.invoice.finalize"
INVOICE_VOID_TOPIC = "stripe.invoice.void"
CUSTOMER_SYNC_TOPIC = "stripe.customer.sync"  # accounts.services writes it too (lower layer)
CUSTOMER_REFRESH_TOPIC = "stripe.customer.refresh"
PAYMENT_METHOD_LINK_TOPIC = "stripe.customer.portal_link"


def invoice_push_key(invoice_id: int) -> str:
    """``invoice:<id>:finalize``: the push row's key, and the prefix of its Stripe calls' keys."""
    return idempotency_key("invoice", invoice_id, "finalize")


def invoice_void_key(invoice_id: int) -> str:
    return idempotency_key("invoice", invoice_id, "void")


def payment_method_link_key(link_id: int) -> str:
    return idempotency_key("payment-method-link", link_id)


CREDIT_PURCHASE_TOPIC = "stripe.credit_purchase.charge"


def credit_top_up_key(purchase_id: int) -> str:
    """``credit-purchase:<id>``: a one-off top-up's outbox row and Stripe payment key."""
    return idempotency_key("credit-purchase", purchase_id)


def credit_recharge_key(rule_id: int, entry_id: int) -> str:
    """``credit-recharge:<rule id>:<ledger entry id>``: derived from the rule and the balance
    event that crossed its threshold, so one crossing can only ever buy once."""
    return idempotency_key("credit-recharge", rule_id, entry_id)
