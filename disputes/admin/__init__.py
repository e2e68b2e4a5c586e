"""Admin for refunds (request, approve, SLA batch, reports) and disputes (queue, evidence)."""

from disputes.admin import disputes, ledger, refunds  # noqa: F401
