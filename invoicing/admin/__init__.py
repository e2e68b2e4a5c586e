"""Admin for invoicing. Every action calls one service; Finance edits, Support views (roles)."""

from invoicing.admin import catalog, contracts, credits, invoices  # noqa: F401  (registers)
