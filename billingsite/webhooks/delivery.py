"""The outbox handlers: deliver one event to one endpoint (sign, POST, record), and tell the
operator that an endpoint was disabled. Both run in a worker, outside any transaction.

A delivery that gets no 2xx answer raises ``WebhookDeliveryFailed`` (retryable), so the outbox
backs off and tries again under the webhook retry policy (``retry_policy``: up to
WEBHOOK_RETRY_HOURS, 3 days by default). A worker killed mid-send leaves the row to be claimed
again when its lease ends: the receiver may then see the same ``webhook-id`` twice, never two
ids for one change.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone
from standardwebhooks import Webhook

from billingsite.outbox.models import OutboxMessage
from billingsite.outbox.registry import RetryPolicy
from billingsite.webhooks.models import WebhookEndpoint, WebhookEvent
from billingsite.webhooks.services import Attempt, webhook_delivery_record
from billingsite.webhooks.ssrf import WebhookUrlError, check_url

USER_AGENT = "Tally-Webhooks/1"


class WebhookDeliveryFailed(Exception):
    """No 2xx answer: retried with backoff until the policy gives up."""

    retryable = True
    code = "webhook_delivery_failed"


def retry_policy() -> RetryPolicy:
    return RetryPolicy(
        max_attempts=int(getattr(settings, "WEBHOOK_RETRY_MAX_ATTEMPTS", 100)),
        base_seconds=float(getattr(settings, "WEBHOOK_RETRY_BASE_SECONDS", 30)),
        cap_seconds=float(getattr(settings, "WEBHOOK_RETRY_MAX_SECONDS", 6 * 3600)),
        give_up_after=timedelta(hours=float(getattr(settings, "WEBHOOK_RETRY_HOURS", 72))),
    )


def signature(endpoint: WebhookEndpoint, msg_id: str, at: datetime, body: bytes) -> str:
    """``v1,<base64>`` by the current secret, plus one by the previous secret while the
    rotation overlap lasts (space-separated, as Standard Webhooks allows)."""
    signatures = [Webhook(endpoint.secret).sign(msg_id, at, body)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and at < expires:
        signatures.append(Webhook(endpoint.previous_secret).sign(msg_id, at, body))
    return " ".join(signatures)


def request_headers(endpoint: WebhookEndpoint, event: WebhookEvent, body: bytes) -> dict[str, str]:
    at = timezone.now()
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": event.public_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature(endpoint, event.public_id, at, body),
    }


def _timeout() -> httpx.Timeout:
    seconds = float(getattr(settings, "WEBHOOK_TIMEOUT_SECONDS", 10))
    return httpx.Timeout(seconds, connect=min(seconds, 5.0))


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str, str]:
    """POST once, no redirects: (status, body excerpt, error)."""
    try:
        target = check_url(url)
        with httpx.Client(timeout=_timeout(), follow_redirects=False, trust_env=False) as client:
            with client.stream(
                "POST",
                target.url,
                content=body,
                headers={**headers, "host": target.host_header},
                extensions={"sni_hostname": target.server_name},
            ) as response:
                excerpt = b""
                for chunk in response.iter_bytes():  # read no more than the log keeps
                    excerpt += chunk
                    if len(excerpt) >= 2000:
                        break
                return response.status_code, excerpt[:2000].decode("utf-8", "replace"), ""
    except WebhookUrlError as exc:
        return None, "", exc.message
    except httpx.HTTPError as exc:
        return None, "", f"{type(exc).__name__}: {exc}"[:500]


def webhook_deliver(message: OutboxMessage) -> dict[str, Any]:
    """Outbox handler of ``webhook.deliver``: ``{"event_id", "endpoint_id"}``."""
    endpoint = WebhookEndpoint.objects.filter(pk=message.payload["endpoint_id"]).first()
    if endpoint is None:
        return {"skipped": "endpoint deleted"}
    if not endpoint.enabled:
        return {"skipped": "endpoint disabled"}
    event = WebhookEvent.objects.get(pk=message.payload["event_id"])
    body = json.dumps(event.payload, separators=(",", ":")).encode()
    headers = request_headers(endpoint, event, body)
    started = time.monotonic()
    status, text, error = post(endpoint.url, body, headers)
    attempt = Attempt(
        endpoint_id=endpoint.pk,
        event_id=event.pk,
        outbox_message_id=message.pk,
        url=endpoint.url,
        request_headers=headers,
        status=status,
        body=text,
        error=error,
        duration_ms=int((time.monotonic() - started) * 1000),
        at=timezone.now(),
    )
    delivery, disabled = webhook_delivery_record(attempt)
    outcome = {"status": status, "delivery_id": delivery.pk if delivery else None}
    if attempt.succeeded or disabled or delivery is None:
        return {**outcome, "disabled": disabled}
    raise WebhookDeliveryFailed(f"{endpoint.url} answered {status or error}")


def operator_emails() -> list[str]:
    configured = getattr(settings, "WEBHOOK_OPERATOR_EMAILS", [])
    return list(configured) or [email for _, email in getattr(settings, "ADMINS", [])]


def endpoint_disabled_email(message: OutboxMessage) -> dict[str, Any]:
    """Outbox handler of ``webhook.endpoint_disabled``: mail the operator (once per row)."""
    recipients = operator_emails()
    if not recipients:
        return {"skipped": "no WEBHOOK_OPERATOR_EMAILS or ADMINS"}
    endpoint = WebhookEndpoint.objects.filter(pk=message.payload["endpoint_id"]).first()
    url = endpoint.url if endpoint else "(deleted)"
    send_mail(
        subject=f"Tally: webhook endpoint disabled ({url[:80]})",
        message=(
            f"The webhook endpoint {url} was disabled: {message.payload['reason']}.\n\n"
            "It receives nothing until it is enabled again (admin, or PATCH "
            '/api/v1/webhook-endpoints/{id} {"enabled": true}); events of the meantime can be '
            "replayed from the admin or POST /api/v1/webhook-endpoints/{id}/replay."
        ),
        from_email=None,
        recipient_list=recipients,
    )
    return {"sent_to": recipients}
