"""Admin for invoicing. Every action calls one service; Finance edits, Support views (roles)."""

from invoicing.admin import (  # noqa: F401  (registers)
    catalog,
    contracts,
    credits,
    invoices,
    reconciliation,
    stripe,
    stripe_customers,
)
