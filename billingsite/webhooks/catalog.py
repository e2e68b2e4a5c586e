"""The event types an endpoint may subscribe to, and the JSON schema of each one's ``data``.

Every delivery's body is ``{"type", "timestamp", "data"}`` (Standard Webhooks); ``data`` holds
one object named after the resource (``{"invoice": {...}}``). Money is a string in major units
with the currency's places, times are RFC 3339. The schemas are added to the OpenAPI document
as components (``billingsite.webhooks.schema``) and described in docs/webhooks.md.
"""

from __future__ import annotations

from typing import Any

WILDCARD = "*"


def _obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required if required is not None else list(properties),
    }


STRING = {"type": "string"}
NULLABLE_STRING = {"type": "string", "nullable": True}
TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = {"type": "string", "format": "date-time", "nullable": True}
MONEY = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "description": "major units"}
INTEGER = {"type": "integer"}

INVOICE = _obj(
    {
        "id": INTEGER,
        "number": NULLABLE_STRING,
        "status": STRING,
        "kind": STRING,
        "customer": STRING,
        "currency": STRING,
        "total": MONEY,
        "period_start": TIME,
        "period_end": TIME,
        "issued_at": NULLABLE_TIME,
        "due_at": NULLABLE_TIME,
        "paid_at": NULLABLE_TIME,
        "voided_at": NULLABLE_TIME,
        "void_reason": STRING,
    }
)
PAYMENT = _obj(
    {
        "id": INTEGER,
        "stripe_payment_intent_id": NULLABLE_STRING,
        "stripe_charge_id": NULLABLE_STRING,
        "amount": MONEY,
        "currency": STRING,
        "status": STRING,
        "failure_code": STRING,
        "decline_code": STRING,
        "failure_message": STRING,
    }
)
CREDIT_NOTE = _obj(
    {
        "number": STRING,
        "invoice": NULLABLE_STRING,
        "customer": STRING,
        "currency": STRING,
        "outcome": STRING,
        "reason": STRING,
        "total": MONEY,
        "created_at": TIME,
    }
)
REFUND = _obj(
    {
        "id": INTEGER,
        "customer": STRING,
        "invoice": NULLABLE_STRING,
        "stripe_refund_id": NULLABLE_STRING,
        "amount": MONEY,
        "currency": STRING,
        "status": STRING,
        "reason": STRING,
        "failure_reason": STRING,
        "created_at": TIME,
        "settled_at": NULLABLE_TIME,
    }
)
DISPUTE = _obj(
    {
        "id": STRING,
        "customer": NULLABLE_STRING,
        "invoice": NULLABLE_STRING,
        "amount": MONEY,
        "currency": STRING,
        "status": STRING,
        "reason": STRING,
        "created_at": TIME,
    }
)
CUSTOMER = _obj(
    {
        "external_id": STRING,
        "name": STRING,
        "email": STRING,
        "created_at": TIME,
        "changed": {"type": "array", "items": STRING, "description": "fields changed"},
    },
    required=["external_id", "name", "email", "created_at"],
)
CREDIT_GRANT = _obj(
    {
        "id": INTEGER,
        "customer": STRING,
        "kind": STRING,
        "currency": STRING,
        "amount": MONEY,
        "effective_at": TIME,
        "expires_at": NULLABLE_TIME,
        "note": STRING,
    }
)
CREDIT_PURCHASE = _obj(
    {
        "id": INTEGER,
        "customer": STRING,
        "source": STRING,
        "rule": {"type": "integer", "nullable": True},
        "currency": STRING,
        "amount": MONEY,
        "status": STRING,
        "credit_grant": {"type": "integer", "nullable": True},
        "stripe_payment_intent_id": NULLABLE_STRING,
        "failure_code": STRING,
        "failure_message": STRING,
    }
)
# Alerts and the low-balance warning are defined by the alerts feature: an open object here.
OPEN = {"type": "object", "additionalProperties": True}

# type -> (description, schema of ``data``)
EVENT_TYPES: dict[str, tuple[str, dict[str, Any]]] = {
    "alert.triggered": ("An alert rule fired.", _obj({"alert": OPEN})),
    "alert.resolved": ("A fired alert is back to normal.", _obj({"alert": OPEN})),
    "invoice.drafted": ("A period's draft invoice was created.", _obj({"invoice": INVOICE})),
    "invoice.finalized": ("An invoice was issued (numbered).", _obj({"invoice": INVOICE})),
    "invoice.paid": ("An invoice was paid in full.", _obj({"invoice": INVOICE})),
    "invoice.payment_failed": (
        "A payment for an invoice failed.",
        _obj({"invoice": INVOICE, "payment": PAYMENT}),
    ),
    "invoice.voided": ("An invoice was voided.", _obj({"invoice": INVOICE})),
    "credit_note.created": ("A credit note was issued.", _obj({"credit_note": CREDIT_NOTE})),
    "refund.succeeded": ("A refund reached the customer.", _obj({"refund": REFUND})),
    "refund.failed": ("A refund failed.", _obj({"refund": REFUND})),
    "dispute.created": ("A customer disputed a charge.", _obj({"dispute": DISPUTE})),
    "dispute.closed": ("A dispute was won, lost or withdrawn.", _obj({"dispute": DISPUTE})),
    "customer.created": ("A customer was created.", _obj({"customer": CUSTOMER})),
    "customer.updated": ("A customer's details changed.", _obj({"customer": CUSTOMER})),
    "credit_grant.created": ("Credit was granted.", _obj({"credit_grant": CREDIT_GRANT})),
    "credit_purchase.succeeded": (
        "A credit top-up or auto-recharge was paid and granted.",
        _obj({"credit_purchase": CREDIT_PURCHASE}),
    ),
    "credit_purchase.failed": (
        "A credit top-up or auto-recharge payment failed (an auto-recharge rule stops).",
        _obj({"credit_purchase": CREDIT_PURCHASE}),
    ),
    "credit.balance_low": ("A customer's credit balance fell low.", _obj({"credit": OPEN})),
}


def event_types() -> list[str]:
    return list(EVENT_TYPES)


def is_known(event_type: str) -> bool:
    return event_type in EVENT_TYPES
