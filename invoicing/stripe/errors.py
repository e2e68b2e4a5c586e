"""The one error type for everything that goes wrong talking to Stripe.

The outbox (next step of issue 5) decides between "try again later" and "dead-letter now" from
``retryable`` alone, so every failure the gateway raises must be a ``StripeGatewayError`` with
that flag set deliberately. This module has no dependency on the ``stripe`` SDK; the mapping
from SDK exceptions lives in ``invoicing.stripe.gateway``.
"""

from __future__ import annotations

from typing import Any

from billingsite.errors import AppError

# Our codes (stable; the admin and the outbox show them). Stripe's own code is ``stripe_code``.
CONNECTION_ERROR = "stripe_connection_error"
RATE_LIMITED = "stripe_rate_limited"
SERVER_ERROR = "stripe_server_error"
CONFLICT = "stripe_conflict"
CARD_ERROR = "stripe_card_error"
INVALID_REQUEST = "stripe_invalid_request"
NOT_FOUND = "stripe_not_found"
IDEMPOTENCY_ERROR = "stripe_idempotency_error"
AUTHENTICATION_ERROR = "stripe_authentication_error"
PERMISSION_ERROR = "stripe_permission_error"
NOT_CONFIGURED = "stripe_not_configured"
NOT_CONFIGURED_MESSAGE = "Stripe is not configured: STRIPE_API_KEY is not set."
UNKNOWN_ERROR = "stripe_error"


class StripeGatewayError(AppError):
    """A Stripe call failed.

    ``retryable`` is True only when sending the *same* request again (same idempotency key) may
    succeed: connection errors and timeouts, 409 conflicts (another request with the same key is
    still running, lock timeouts), 429 and 5xx - or whenever Stripe says so in its
    ``Stripe-Should-Retry`` header. Card declines, invalid requests and idempotency-key misuse are
    final. ``http_status`` is Stripe's status (None when no response arrived); the exception's own
    ``status_code`` is 502 because, seen from Tally, it is an upstream failure.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retryable: bool,
        http_status: int | None = None,
        stripe_code: str | None = None,
        decline_code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.retryable = retryable
        self.http_status = http_status
        self.stripe_code = stripe_code
        self.decline_code = decline_code
        self.request_id = request_id
        super().__init__(code, message, details=self.as_details(), status_code=502)

    def as_details(self) -> dict[str, Any]:
        """What the outbox row, the admin and the logs record (never headers or the API key)."""
        return {
            "retryable": self.retryable,
            "http_status": self.http_status,
            "stripe_code": self.stripe_code,
            "decline_code": self.decline_code,
            "request_id": self.request_id,
        }

    def __repr__(self) -> str:
        return (
            f"StripeGatewayError(code={self.code!r}, retryable={self.retryable!r}, "
            f"http_status={self.http_status!r}, stripe_code={self.stripe_code!r}, "
            f"request_id={self.request_id!r})"
        )


class StripeNotConfigured(StripeGatewayError):
    """``STRIPE_API_KEY`` is empty, so nothing was sent. The message itself is fine: the outbox
    holds such rows (``held_until_configured``: pending, not dead and not counted as attempts)
    until Stripe is configured, and the pages say so."""

    held_until_configured = True

    def __init__(self) -> None:
        super().__init__(NOT_CONFIGURED, NOT_CONFIGURED_MESSAGE, retryable=False)
