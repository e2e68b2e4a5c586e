"""Admin for the shared plumbing (the outbox)."""

from billingsite.outbox import admin  # noqa: F401  (registers)
