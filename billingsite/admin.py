"""Admin for the shared plumbing (the outbox, invariant runs, webhooks)."""

from billingsite.invariant_runs import admin as invariant_runs_admin  # noqa: F401  (registers)
from billingsite.outbox import admin  # noqa: F401  (registers)
from billingsite.webhooks import admin as webhooks_admin  # noqa: F401  (registers)
