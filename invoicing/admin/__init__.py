"""Admin for invoicing. Every action calls one service; Finance edits, Support views (roles)."""

from invoicing.admin import (  # noqa: F401  (registers)
    billing_runs,
    catalog,
    collections,
    contracts,
    credit_purchases,
    credits,
    invoices,
)
from invoicing.alerts import admin as alerts_admin  # noqa: F401  (registers)
from invoicing.entitlements import admin as entitlements_admin  # noqa: F401  (registers)
from invoicing.stripe import admin as stripe_admin  # noqa: F401  (registers)
