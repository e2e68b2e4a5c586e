"""Outbound webhooks (docs/webhooks.md): endpoints the operator registers, one ``WebhookEvent``
per business change announced through ``billingsite.events.emit``, and one delivery per event
and endpoint, signed per Standard Webhooks and sent through the outbox (``webhook.deliver``).

Modules: ``models``, ``catalog`` (event types and payload schemas), ``listener`` (writes the
event and its outbox rows in the business transaction), ``secrets``, ``ssrf`` (URL checks),
``delivery`` (the outbox handler: sign, POST, record), ``services`` (endpoint writes, replay,
disabling), ``selectors``, ``api``, ``admin``, ``dashboard``, ``emails``.
"""
