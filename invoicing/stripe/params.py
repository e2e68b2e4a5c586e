"""How our values become Stripe parameters (no SDK here): aware datetimes -> unix seconds,
Decimals -> plain-notation strings (never floats), absent optional parameters left out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any


def timestamp(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("Stripe timestamps need aware datetimes")
    return int(moment.timestamp())


def decimal_string(value: Decimal) -> str:
    """Plain notation: ``str(Decimal("1E-7"))`` is scientific, which Stripe does not document."""
    if not isinstance(value, Decimal):
        raise TypeError("money amounts must be Decimal")
    return format(value.normalize(), "f")


def without_none(params: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if value is not None}
