"""OpenAPI: the webhook payloads as components (``WebhookEvent.<type>`` and ``WebhookEvent``,
a ``oneOf`` with ``type`` as discriminator), so receivers can generate their types from the same
document as the API's. A drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS)."""

from __future__ import annotations

from typing import Any

from billingsite.webhooks.catalog import EVENT_TYPES, TIME


def payload_component(event_type: str) -> dict[str, Any]:
    description, data = EVENT_TYPES[event_type]
    return {
        "type": "object",
        "description": f"`{event_type}`: {description}",
        "properties": {
            "type": {"type": "string", "enum": [event_type]},
            "timestamp": TIME,
            "data": data,
        },
        "required": ["type", "timestamp", "data"],
    }


def add_webhook_payloads(result: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    refs = {}
    for event_type in EVENT_TYPES:
        name = f"WebhookEvent.{event_type}"
        schemas[name] = payload_component(event_type)
        refs[event_type] = f"#/components/schemas/{name}"
    schemas["WebhookEvent"] = {
        "description": (
            "The body of every webhook delivery (Standard Webhooks), signed in the "
            "`webhook-id`, `webhook-timestamp` and `webhook-signature` headers."
        ),
        "oneOf": [{"$ref": ref} for ref in refs.values()],
        "discriminator": {"propertyName": "type", "mapping": refs},
    }
    return result
