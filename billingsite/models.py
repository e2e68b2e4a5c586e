"""Models of the shared plumbing: the transactional outbox, invariant runs."""

from billingsite.invariant_runs.models import InvariantRun
from billingsite.outbox.models import OutboxMessage, OutboxState

__all__ = ["InvariantRun", "OutboxMessage", "OutboxState"]
