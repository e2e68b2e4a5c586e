"""The ``alert.email`` outbox topic: a self-serve alert's trigger, emailed to the customer's
billing contacts by the outbox worker (never from the request or the evaluation transaction).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import send_mail

from accounts.models import ContactRole
from billingsite.outbox.models import OutboxMessage
from billingsite.outbox.registry import register_outbox_handler
from invoicing.alerts.evaluation import EMAIL_TOPIC
from invoicing.alerts.models import AlertTrigger, AlertType

_UNITS = {
    AlertType.USAGE_THRESHOLD: "",
    AlertType.SPEND_THRESHOLD: "",
    AlertType.CREDIT_BALANCE_BELOW: "",
    AlertType.COMMIT_BURN: "%",
}


def alert_email_text(trigger: AlertTrigger) -> tuple[str, str]:
    alert = trigger.alert
    unit = _UNITS.get(AlertType(alert.type), "")
    threshold = trigger.threshold.normalize()
    subject = f"Alert: {alert.name} reached {threshold}{unit}"
    body = (
        f"Hello {trigger.customer.name},\n\n"
        f'Your alert "{alert.name}" ({alert.get_type_display()}) fired: the value is '
        f"{trigger.value.normalize()}{unit}, past the threshold of {threshold}{unit} "
        f"for the period starting {trigger.period_start:%Y-%m-%d}.\n\n"
        "You can change your alerts on your usage pages.\n"
    )
    return subject, body


def alert_email_send(message: OutboxMessage) -> dict[str, Any]:
    trigger = (
        AlertTrigger.objects.select_related("alert", "customer")
        .filter(pk=message.payload["trigger_id"])
        .first()
    )
    if trigger is None:  # the alert was deleted since: nothing to tell
        return {"skipped": "trigger deleted"}
    recipients = sorted(
        set(
            trigger.customer.contacts.filter(role=ContactRole.BILLING).values_list(
                "email", flat=True
            )
        )
    )
    if not recipients:
        return {"skipped": "no billing contact"}
    subject, body = alert_email_text(trigger)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    return {"to": recipients}


def register() -> None:
    register_outbox_handler(EMAIL_TOPIC, alert_email_send)
