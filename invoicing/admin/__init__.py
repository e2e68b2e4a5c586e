"""Admin for invoicing. Every action calls one service; Finance edits, Support views (roles)."""

from invoicing.admin import (  # noqa: F401  (registers)
    catalog,
    contracts,
    credits,
    invoices,
)
from invoicing.entitlements import admin as entitlements_admin  # noqa: F401  (registers)
from invoicing.stripe import admin as stripe_admin  # noqa: F401  (registers)
