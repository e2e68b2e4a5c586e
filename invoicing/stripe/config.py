"""How the gateway reaches Stripe, read from settings (which read the environment)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from invoicing.stripe.errors import StripeNotConfigured


@dataclass(frozen=True)
class GatewayConfig:
    """``api_key`` is excluded from repr so it never reaches a log line or an error page.

    ``api_base`` empty means the real Stripe; in tests it names a fake server on loopback.
    """

    api_key: str = field(repr=False)
    api_base: str = ""
    api_version: str = ""
    connect_timeout: float = 5.0
    read_timeout: float = 30.0

    @classmethod
    def from_settings(cls) -> GatewayConfig:
        if not stripe_configured():
            raise StripeNotConfigured()
        return cls(
            api_key=settings.STRIPE_API_KEY,
            api_base=settings.STRIPE_API_BASE.rstrip("/"),
            api_version=settings.STRIPE_API_VERSION,
            connect_timeout=settings.STRIPE_CONNECT_TIMEOUT_SECONDS,
            read_timeout=settings.STRIPE_READ_TIMEOUT_SECONDS,
        )


def stripe_configured() -> bool:
    """Whether Tally can reach Stripe at all (an API key is set); pages that queue something
    for Stripe say plainly when it cannot be sent yet."""
    return bool(settings.STRIPE_API_KEY)


def not_configured_notice(what: str) -> str:
    """The sentence a page shows when ``what`` (``"this refund"``) waits for Stripe."""
    return f"Stripe is not configured: {what} will be sent when STRIPE_API_KEY is set."
