"""Models of the shared plumbing: the transactional outbox, API idempotency keys, invariant
runs."""

from billingsite.api.models import IdempotencyKey
from billingsite.invariant_runs.models import InvariantRun
from billingsite.outbox.models import OutboxMessage, OutboxState

__all__ = ["IdempotencyKey", "InvariantRun", "OutboxMessage", "OutboxState"]
