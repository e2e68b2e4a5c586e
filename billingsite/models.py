"""Models of the shared plumbing: the transactional outbox, invariant runs, webhooks."""

from billingsite.invariant_runs.models import InvariantRun
from billingsite.outbox.models import OutboxMessage, OutboxState
from billingsite.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

__all__ = [
    "InvariantRun",
    "OutboxMessage",
    "OutboxState",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]
