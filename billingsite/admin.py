"""Admin for the shared plumbing (the outbox, invariant runs)."""

from billingsite.invariant_runs import admin as invariant_runs_admin  # noqa: F401  (registers)
from billingsite.outbox import admin  # noqa: F401  (registers)
