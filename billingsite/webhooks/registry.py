"""Wiring, called from ``BillingsiteConfig.ready()``: the events listener, the outbox handlers
and the webhook retry policy."""

from __future__ import annotations


def register() -> None:
    from billingsite.events import register_listener
    from billingsite.outbox.registry import register_outbox_handler, register_retry_policy
    from billingsite.webhooks.delivery import endpoint_disabled_email, retry_policy, webhook_deliver
    from billingsite.webhooks.listener import (
        DELIVER_TOPIC,
        LISTENER_NAME,
        webhook_event_record,
        webhook_events_record,
    )
    from billingsite.webhooks.services import DISABLED_EMAIL_TOPIC

    register_listener(LISTENER_NAME, webhook_event_record, many=webhook_events_record)
    register_outbox_handler(DELIVER_TOPIC, webhook_deliver)
    register_outbox_handler(DISABLED_EMAIL_TOPIC, endpoint_disabled_email)
    register_retry_policy(DELIVER_TOPIC, retry_policy)
