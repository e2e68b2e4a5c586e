"""Evidence-due reminders: the assignee gets one email 72 h and one 24 h before ``due_by``.

Invariant: each reminder is claimed with a conditional UPDATE (``reminded_<n>h_at IS NULL``)
before its email is sent after commit, so overlapping beat runs send it once."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from billingsite.money import amount_of
from disputes.models import Dispute
from disputes.states import DISPUTE_OPEN

WINDOWS = ((72, "reminded_72h_at"), (24, "reminded_24h_at"))


def reminders_send(*, now: datetime | None = None) -> int:
    """Send every reminder that is due; returns how many were sent."""
    now = now or timezone.now()
    sent = 0
    for hours, field in WINDOWS:
        due = Dispute.objects.filter(
            status__in=DISPUTE_OPEN,
            assignee__isnull=False,
            evidence_submitted_at__isnull=True,
            due_by__gt=now,
            due_by__lte=now + timedelta(hours=hours),
            **{f"{field}__isnull": True},
        )
        for dispute_id in list(due.values_list("pk", flat=True)):
            sent += _remind(dispute_id, field, hours, now)
    return sent


@transaction.atomic
def _remind(dispute_id: int, field: str, hours: int, now: datetime) -> int:
    claimed = Dispute.objects.filter(pk=dispute_id, **{f"{field}__isnull": True}).update(
        **{field: now}
    )
    if not claimed:
        return 0
    dispute = Dispute.objects.select_related("assignee", "customer").get(pk=dispute_id)
    email = getattr(dispute.assignee, "email", "")
    if not email:
        return 0
    subject = f"Dispute {dispute.stripe_id}: evidence due in under {hours} h"
    amount = amount_of(dispute.amount)
    body = (
        f"The evidence for dispute {dispute.stripe_id} ({dispute.customer}, {amount} "
        f"{dispute.currency}, reason {dispute.reason}) is due {dispute.due_by:%Y-%m-%d %H:%M} "
        "UTC. Submit it from the disputes queue in the admin."
    )
    transaction.on_commit(lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email]))
    return 1
