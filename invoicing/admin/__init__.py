"""Admin for invoicing. Every action calls one service; Finance edits, Support views (roles)."""

from invoicing.admin import (  # noqa: F401  (registers)
    catalog,
    collections,
    contracts,
    credits,
    invoices,
)
from invoicing.stripe import admin as stripe_admin  # noqa: F401  (registers)
