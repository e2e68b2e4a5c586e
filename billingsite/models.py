"""Models of the shared plumbing: the transactional outbox, API idempotency keys."""

from billingsite.api.models import IdempotencyKey
from billingsite.outbox.models import OutboxMessage, OutboxState

__all__ = ["IdempotencyKey", "OutboxMessage", "OutboxState"]
