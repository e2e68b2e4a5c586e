"""Models of the shared plumbing: the transactional outbox."""

from billingsite.outbox.models import OutboxMessage, OutboxState

__all__ = ["OutboxMessage", "OutboxState"]
