"""One error type: money and pricing errors are AppErrors, mapped once by the API's handler."""

from __future__ import annotations

from billingsite.errors import AppError
from billingsite.money import MoneyError
from invoicing.pricing import PriceSpecError, PricingError


def test_money_and_pricing_errors_are_app_errors_with_code_message_details() -> None:
    for error in (
        MoneyError("invalid_decimal", "amount must be a decimal string.", {"amount": "bad"}),
        PricingError("invalid_events", "events must be a list.", {"events": "not a list"}),
        PriceSpecError({"tiers[0].up_to": "must be positive"}),
    ):
        assert isinstance(error, AppError)
        assert isinstance(error, ValueError)  # parsers that catch ValueError still do
        assert error.status_code == 400
        assert error.code and error.message
        assert error.details and all(isinstance(v, str) for v in error.details.values())
