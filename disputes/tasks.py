"""Celery tasks for disputes: short, named, time-limited; each calls one service."""

from __future__ import annotations

from celery import shared_task

from disputes.services.automated import refund_duplicate_payments
from disputes.services.reminders import reminders_send


@shared_task(name="disputes.reminders_send", soft_time_limit=120, time_limit=150)
def reminders_send_task() -> int:
    return reminders_send()


@shared_task(name="disputes.duplicates_refund", soft_time_limit=300, time_limit=330)
def duplicates_refund_task() -> int:
    """After the nightly reconciliation: refund duplicate payments (same path as agents)."""
    return len(refund_duplicate_payments())
