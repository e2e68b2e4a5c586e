"""Errors raised by the pricing package.

Both are ``AppError``s (one error type, mapped once to ``{"error": {"code", "message",
"details"}}``): a stable ``code``, a ``message`` a person can act on and ``details`` mapping a
field path (``tiers[1].up_to``, ``events[3].value``) to what is wrong there. They are still
``ValueError``s for callers that parse.
"""

from __future__ import annotations

from collections.abc import Mapping

from billingsite.errors import AppError


class PricingError(AppError, ValueError):
    """The inputs of a rating (quantity, events, groups) cannot be priced with this spec."""

    def __init__(self, code: str, message: str, details: Mapping[str, str] | None = None):
        super().__init__(code, message, details=dict(details or {}))


class PriceSpecError(PricingError):
    """A price spec failed validation; ``details`` lists every problem found, by field path."""

    def __init__(self, details: Mapping[str, str]):
        count = len(details)
        first_path, first_problem = next(iter(details.items()))
        message = f"The price spec is invalid: {first_path} {first_problem}"
        if count > 1:
            message += f" (and {count - 1} more problem{'s' if count > 2 else ''})"
        super().__init__("invalid_price_spec", message, details)
