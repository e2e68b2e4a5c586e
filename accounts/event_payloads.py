"""``data`` of the customer events (schemas in ``billingsite.webhooks.catalog``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from accounts.models import Customer


def customer_event(customer: Customer, changed: Iterable[str] = ()) -> dict[str, Any]:
    data: dict[str, Any] = {
        "external_id": customer.external_id,
        "name": customer.name,
        "email": customer.email,
        "created_at": customer.created_at,
    }
    if changed:
        data["changed"] = sorted(changed)
    return {"customer": data}
